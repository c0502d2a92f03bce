'use strict';
// ivm.Module: compiling ES modules, linking them with a resolver that
// answers at once or with promises, evaluating them (top-level await
// included), reading their exports, and the errors of each step — as
// isolated-vm 7 has them.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const ivm = require('../../bindings/node');
const { fresh } = require('./support/helpers');

// A resolver over `sources` (specifier -> code), each compiled once, that
// records what it was asked.
function library(isolate, sources) {
  const modules = new Map(Object.entries(sources).map(([name, code]) => [name, isolate.compileModuleSync(code, { filename: name })]));
  const asked = [];
  const resolve = (specifier, referrer) => {
    asked.push(specifier);
    assert.ok(referrer instanceof ivm.Module);
    const module = modules.get(specifier);
    if (module === undefined) throw new Error(`no module ${specifier}`);
    return module;
  };
  return { modules, asked, resolve };
}

test('compileModuleSync and compileModule give Modules with their dependency specifiers', async () => {
  const { isolate } = fresh();
  const code = "import a from './a.js'; import { b } from './b.js'; export * from './a.js'; export { c } from 'c';";
  const sync = isolate.compileModuleSync(code);
  const later = await isolate.compileModule(code, { filename: 'file:///main.js' });
  for (const module of [sync, later]) {
    assert.ok(module instanceof ivm.Module);
    assert.deepEqual(module.dependencySpecifiers, ['./a.js', './b.js', 'c']);
  }
  assert.notEqual(sync.dependencySpecifiers, sync.dependencySpecifiers, 'a new array each time, as in isolated-vm');
  assert.deepEqual(isolate.compileModuleSync('export default 1').dependencySpecifiers, []);
  assert.throws(() => new ivm.Module(), 'Modules come from compileModule only');
  isolate.dispose();
});

test('compile options: the origin shows in stack traces; bad arguments and cached data are refused', async () => {
  const { isolate, context } = fresh();
  const module = isolate.compileModuleSync('\n\nthrow new Error("here");', { filename: 'file:///thrower.mjs', lineOffset: 10 });
  module.instantiateSync(context, () => assert.fail('no imports'));
  assert.throws(() => module.evaluateSync(), (error) => {
    assert.equal(error.message, 'here');
    assert.match(error.stack, /file:\/\/\/thrower\.mjs:13/);
    return true;
  });
  assert.throws(() => isolate.compileModuleSync(42), TypeError);
  await assert.rejects(isolate.compileModule(null), TypeError);
  // Code caches: see api-compile-options.test.js.
  assert.ok(isolate.compileModuleSync('export {}', { produceCachedData: true }).cachedData instanceof ivm.ExternalCopy);
  const garbage = new ivm.ExternalCopy(new ArrayBuffer(1));
  assert.equal((await isolate.compileModule('export const unseen = 1;', { cachedData: garbage })).cachedDataRejected, true);
  await assert.rejects(isolate.compileModule('export {}', { cachedData: new ArrayBuffer(1) }), TypeError);
  assert.throws(() => isolate.compileModuleSync('export {}', { meta: () => {} }), ivm.UsageError);
  isolate.dispose();
});

test('a graph links with a sync resolver, which gets each referrer as the object it returned', async () => {
  const { isolate, context } = fresh();
  const main = isolate.compileModuleSync(
    "import { add } from './math.js'; import value from './value.js'; export { default as value } from './value.js'; export const sum = add(value, 2);",
  );
  const { modules, asked, resolve } = library(isolate, {
    './math.js': 'export function add(a, b) { return a + b; }',
    './value.js': "import { add } from './math.js'; export default add(20, 20);",
  });
  const referrers = [];
  assert.equal(main.instantiateSync(context, (specifier, referrer) => {
    referrers.push(referrer);
    return resolve(specifier, referrer);
  }), undefined);
  assert.deepEqual(asked.sort(), ['./math.js', './math.js', './value.js'].sort(), 'each module is asked about once per import');
  assert.ok(referrers.every((referrer) => referrer === main || referrer === modules.get('./value.js')));
  assert.equal(main.evaluateSync(), undefined);
  assert.equal(main.namespace.getSync('sum'), 42);
  assert.equal(main.namespace.getSync('value'), 40);
  main.instantiateSync(context, () => assert.fail('an instantiated module is not linked again'));
  await main.instantiate(context, () => assert.fail('nor by the async form'));
  isolate.dispose();
});

test('instantiate takes an async resolver: promises, plain Modules and thenables', async () => {
  const { isolate, context } = fresh();
  const main = isolate.compileModuleSync("import { x } from 'x'; import { y } from 'y'; import { z } from 'z'; export const all = x + y + z;");
  const x = await isolate.compileModule("import { y } from 'y'; export const x = y + 1;");
  const y = isolate.compileModuleSync('export const y = 20;');
  const z = isolate.compileModuleSync('export const z = 1;');
  const asked = [];
  const promise = main.instantiate(context, (specifier, referrer) => {
    asked.push([specifier, referrer === main ? 'main' : referrer === x ? 'x' : '?']);
    if (specifier === 'x') return new Promise((resolve) => setTimeout(() => resolve(x), 10));
    if (specifier === 'y') return y;
    return { then: (resolve) => resolve(z) };
  });
  assert.ok(promise instanceof Promise);
  assert.equal(await promise, undefined);
  assert.deepEqual(asked.map(([s]) => s).sort(), ['x', 'y', 'y', 'z']);
  assert.ok(asked.every(([, referrer]) => referrer !== '?'));
  await main.evaluate();
  assert.equal(await main.namespace.get('all'), 42);
  isolate.dispose();
});

test('the resolver may compile the modules it returns, with compileModuleSync or compileModule', async () => {
  const { isolate, context } = fresh();
  const sources = { a: "import b from 'b'; export default 'a' + b;", b: "export default 'b';" };
  const onDemand = (compile) => {
    const cache = new Map();
    return (specifier) => {
      if (!cache.has(specifier)) cache.set(specifier, compile(sources[specifier], { filename: specifier }));
      return cache.get(specifier);
    };
  };
  const first = isolate.compileModuleSync("import a from 'a'; export const value = a;");
  first.instantiateSync(context, onDemand((code, opts) => isolate.compileModuleSync(code, opts)));
  first.evaluateSync();
  assert.equal(first.namespace.getSync('value'), 'ab');
  const second = isolate.compileModuleSync("import a from 'a'; export const value = a + '!';");
  await second.instantiate(context, onDemand((code, opts) => isolate.compileModule(code, opts)));
  await second.evaluate();
  assert.equal(second.namespace.getSync('value'), 'ab!');
  isolate.dispose();
});

test('shared and cyclic imports link once and each module runs once', async () => {
  const { isolate, context } = fresh();
  context.evalSync('globalThis.runs = []');
  const main = isolate.compileModuleSync("import { a } from 'a'; import { b } from 'b'; export const both = a() + b(); runs.push('main');");
  const { asked, resolve } = library(isolate, {
    a: "import { b } from 'b'; export function a() { return 'a'; } export const viaB = () => b(); runs.push('a');",
    b: "import { a } from 'a'; export function b() { return 'b'; } export const viaA = () => a(); runs.push('b');",
  });
  await main.instantiate(context, async (specifier, referrer) => resolve(specifier, referrer));
  assert.deepEqual([...asked].sort(), ['a', 'a', 'b', 'b'], 'a cycle is asked about once per import');
  await main.evaluate();
  assert.equal(main.namespace.getSync('both'), 'ab');
  assert.deepEqual(context.evalSync('runs', { copy: true }), ['b', 'a', 'main']);
  isolate.dispose();
});

test('top-level await: evaluateSync and evaluate wait for it, and its failures come back', async () => {
  const { isolate, context } = fresh();
  const waits = isolate.compileModuleSync('export const value = await Promise.resolve(6).then((n) => n * 7);');
  waits.instantiateSync(context, () => {});
  assert.equal(waits.evaluateSync(), undefined);
  assert.equal(waits.namespace.getSync('value'), 42);

  const later = isolate.compileModuleSync('await null; export const twice = 2 * 21;');
  await later.instantiate(context, () => {});
  assert.equal(await later.evaluate(), undefined);
  assert.equal(later.namespace.getSync('twice'), 42);

  const fails = isolate.compileModuleSync("await null; throw new RangeError('late failure');");
  fails.instantiateSync(context, () => {});
  assert.throws(() => fails.evaluateSync(), (error) => error instanceof RangeError && error.message === 'late failure');
  assert.throws(() => fails.evaluateSync(), RangeError, 'a second evaluation gives the first one\'s outcome');
  const failsLater = isolate.compileModuleSync("await 1; throw new TypeError('async failure');");
  failsLater.instantiateSync(context, () => {});
  await assert.rejects(failsLater.evaluate(), (error) => error instanceof TypeError && error.message === 'async failure');
  isolate.dispose();
});

test('evaluate waits for an async Callback; evaluateSync cannot', async () => {
  const { isolate, context } = fresh();
  const slow = new ivm.Callback(async (x) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return `host ${x}`;
  }, { async: true });
  context.global.setSync('slow', slow);
  const code = "export const answer = await slow('says hi');";
  const waiting = isolate.compileModuleSync(code);
  waiting.instantiateSync(context, () => {});
  assert.equal(await waiting.evaluate(), undefined);
  assert.equal(waiting.namespace.getSync('answer'), 'host says hi');

  const blocked = isolate.compileModuleSync(code);
  blocked.instantiateSync(context, () => {});
  assert.throws(() => blocked.evaluateSync(), (error) => error instanceof ivm.UsageError && /did not settle/.test(error.message));
  isolate.dispose();
});

test('evaluate honours timeout', async () => {
  const { isolate, context } = fresh();
  const spin = isolate.compileModuleSync('while (true) {}');
  spin.instantiateSync(context, () => {});
  assert.throws(() => spin.evaluateSync({ timeout: 30 }), ivm.TimeoutError);
  const spinLater = isolate.compileModuleSync('for (;;) {}');
  spinLater.instantiateSync(context, () => {});
  await assert.rejects(spinLater.evaluate({ timeout: 30 }), ivm.TimeoutError);
  assert.throws(() => spin.evaluateSync({ timeout: -1 }), RangeError);
  assert.throws(() => spin.evaluateSync({ timeout: '30' }), TypeError);
  assert.equal(context.evalSync('1 + 1'), 2, 'the isolate stays usable');
  isolate.dispose();
});

test('namespace is a Reference to the exports, live after instantiation', async () => {
  const { isolate, context } = fresh();
  const module = isolate.compileModuleSync('export let count = 0; export function bump() { return ++count; } export const list = [1, 2, 3]; export default "d";');
  assert.throws(() => module.namespace, (error) => error instanceof ivm.UsageError && /not been instantiated/.test(error.message));
  module.instantiateSync(context, () => {});
  module.evaluateSync();
  const namespace = module.namespace;
  assert.ok(namespace instanceof ivm.Reference);
  assert.equal(module.namespace, namespace, 'one Reference, as context.global is');
  assert.equal(namespace.typeof, 'object');
  assert.deepEqual(namespace.getSync('list', { copy: true }), [1, 2, 3]);
  assert.equal(namespace.getSync('default'), 'd');
  // A function comes out as a function (isolated-vm 4+), or as a
  // Reference when asked for one.
  assert.equal(namespace.getSync('bump', { reference: true }).applySync(), 1);
  assert.equal(namespace.getSync('bump')(), 2);
  assert.equal(await namespace.get('count'), 2, 'bindings are live');
  isolate.dispose();
});

test('errors: syntax, resolver failures, unresolvable exports, other isolates, order of calls', async () => {
  const { isolate, context } = fresh();
  assert.throws(() => isolate.compileModuleSync('export const = 1;'), SyntaxError);
  await assert.rejects(isolate.compileModule('import { from "x";'), SyntaxError);

  const main = isolate.compileModuleSync("import { needed } from 'dep';");
  // What the resolver throws is what instantiate throws.
  const refusal = new Error('cannot find dep');
  assert.throws(() => main.instantiateSync(context, () => { throw refusal; }), (error) => error === refusal);
  await assert.rejects(main.instantiate(context, () => { throw refusal; }), (error) => error === refusal);
  await assert.rejects(main.instantiate(context, async () => { throw refusal; }), (error) => error === refusal);
  await assert.rejects(main.instantiate(context, () => Promise.reject(7)), (thrown) => thrown === 7);
  // Not a Module, or (for the sync form) a promise of one.
  const dep = isolate.compileModuleSync('export const present = 1;');
  assert.throws(() => main.instantiateSync(context, () => 'dep'), { name: 'TypeError', message: 'Resolved dependency was not `Module`' });
  assert.throws(() => main.instantiateSync(context, () => Promise.resolve(dep)), TypeError);
  await assert.rejects(main.instantiate(context, () => ({ not: 'a module' })), TypeError);
  await assert.rejects(main.instantiate(context, async () => undefined), TypeError);
  // A module that does not export what is imported fails to link.
  assert.throws(() => main.instantiateSync(context, () => dep), SyntaxError);
  await assert.rejects(main.instantiate(context, async () => dep), (error) => error instanceof SyntaxError && /needed/.test(error.message));
  // Evaluating (or reading the namespace) before instantiating.
  const fresh2 = isolate.compileModuleSync('export default 1;');
  assert.throws(() => fresh2.evaluateSync(), ivm.UsageError);
  await assert.rejects(fresh2.evaluate(), ivm.UsageError);
  // Modules and contexts of another isolate.
  const other = new ivm.Isolate();
  const foreign = other.compileModuleSync('export const needed = 1;');
  assert.throws(() => main.instantiateSync(context, () => foreign), ivm.UsageError);
  await assert.rejects(main.instantiate(context, async () => foreign), ivm.UsageError);
  assert.throws(() => foreign.instantiateSync(context, () => {}), ivm.UsageError);
  // Bad arguments.
  assert.throws(() => main.instantiateSync({}, () => dep), TypeError);
  assert.throws(() => main.instantiateSync(context), TypeError);
  await assert.rejects(main.instantiate(context, 'resolver'), TypeError);
  // After all that the module still links, with a good answer.
  const good = isolate.compileModuleSync('export const needed = "yes";');
  await main.instantiate(context, () => good);
  await main.evaluate();
  other.dispose();
  isolate.dispose();
});

test('release: a released module can no longer be used', async () => {
  const { isolate, context } = fresh();
  const module = isolate.compileModuleSync('export default 1;');
  module.release();
  assert.throws(() => module.instantiateSync(context, () => {}), ivm.ReleasedError);
  await assert.rejects(module.instantiate(context, () => {}), ivm.ReleasedError);
  const importer = isolate.compileModuleSync("import one from 'one';");
  assert.throws(() => importer.instantiateSync(context, () => module), ivm.ReleasedError);
  const linked = isolate.compileModuleSync('export default 2;');
  linked.instantiateSync(context, () => {});
  linked.release();
  assert.throws(() => linked.evaluateSync(), ivm.ReleasedError);
  assert.throws(() => linked.namespace, ivm.ReleasedError);
  isolate.dispose();
  const gone = isolate.compileModuleSync.bind(isolate);
  assert.throws(() => gone('export {}'), ivm.DisposedError);
});

test('Node stays alive while instantiate and evaluate work, and exits when nothing can settle them', async () => {
  const addon = require.resolve('../../bindings/node');
  const run = (source) =>
    new Promise((resolve) => {
      const script = `const ivm = require(${JSON.stringify(addon)});\n${source}`;
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
    });
  const alive = await run(`
    const isolate = new ivm.Isolate();
    const context = isolate.createContextSync();
    context.global.setSync('later', new ivm.Callback(() => new Promise((r) => setTimeout(() => r(41), 100)), { async: true }));
    const main = isolate.compileModuleSync("import { x } from 'x'; export const value = x + await later();");
    const x = isolate.compileModuleSync('export const x = 1;');
    main.instantiate(context, () => x)
      .then(() => main.evaluate())
      .then(() => console.log('value ' + main.namespace.getSync('value')));
  `);
  assert.equal(alive.error, null, alive.stderr);
  assert.equal(alive.stdout, 'value 42\n');
  const stuck = await run(`
    const isolate = new ivm.Isolate();
    const context = isolate.createContextSync();
    const main = isolate.compileModuleSync("import 'never';");
    main.instantiate(context, () => new Promise(() => {})).then(() => console.log('settled'));
    console.log('started');
  `);
  assert.equal(stuck.error, null, stuck.stderr);
  assert.equal(stuck.stdout, 'started\n', 'a resolver promise nothing settles does not keep Node alive');
});

test("a dynamic import() through an async instantiate's resolver works, and Node exits when it is done", async () => {
  const script = `
    const ivm = require(${JSON.stringify(require.resolve('../../bindings/node'))});
    (async () => {
      const isolate = new ivm.Isolate();
      const context = isolate.createContextSync();
      const main = isolate.compileModuleSync("export default async () => (await import('dep')).value * 2;");
      await main.instantiate(context, async () => isolate.compileModuleSync('export const value = 21;'));
      await main.evaluate();
      const run = await main.namespace.get('default', { reference: true });
      console.log(await run.apply(undefined, [], { result: { promise: true, copy: true } }));
    })();`;
  const output = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.killed ? 'Node did not exit' : error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  assert.equal(output, '42\n');
});
