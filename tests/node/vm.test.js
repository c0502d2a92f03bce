'use strict';
// `require('ivm/vm')`: node:vm's API over ivm isolates. The seeds' examples
// run with only their `require('vm')` changed and print what node:vm's do;
// the sandbox's semantics, node:vm's errors, and the conformance cases'
// escapes and resource attacks run through `runInNewContext`.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const ivm = require('../../bindings/node');
const vm = require('../../bindings/node/vm');
const { conformanceHostObject } = require('./support/helpers');

const VM_PATH = path.join(__dirname, '..', '..', 'bindings', 'node', 'vm.js');

// Runs `body` (with `vm` in scope) in a child Node, sends it Ctrl-C once it
// has printed "running", and resolves with what it printed; it must exit 0.
async function interruptedChild(body) {
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, ['-e', `const vm = require(${JSON.stringify(VM_PATH)});\n${body}`]);
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (output === 'running\n') setTimeout(() => child.kill('SIGINT'), 100);
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, output);
  return output;
}

describe("the seeds' examples", () => {
  const dir = path.join(__dirname, 'vm-seeds');
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.js'))) {
    test(file, () => {
      const example = path.join(dir, file);
      const source = fs.readFileSync(example, 'utf8');
      const changed = source.replaceAll("require('vm')", `require(${JSON.stringify(VM_PATH)})`);
      assert.notEqual(changed, source, 'the example requires vm');
      // Run as a file (a module), as the seeds' examples are.
      const moved = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ivm-vm-')), file);
      fs.writeFileSync(moved, changed);
      const run = (file) => execFileSync(process.execPath, [file], { encoding: 'utf8' });
      // node:vm's own output is what the seed says it prints.
      assert.equal(run(moved), run(example));
    });
  }
});

describe('the module', () => {
  test('is ivm.vm and has node:vm names', () => {
    assert.equal(ivm.vm, vm);
    for (const name of ['Module', 'Script', 'SourceTextModule', 'SyntheticModule', 'compileFunction', 'createContext', 'createScript', 'isContext', 'runInContext', 'runInNewContext', 'runInThisContext']) {
      assert.equal(typeof vm[name], 'function', name);
    }
    const manifest = require('../../bindings/node/package.json');
    assert.deepEqual(manifest.exports['./vm'], { types: './vm.d.ts', default: './vm.js' });
    assert.ok(manifest.files.includes('vm.js'));
  });

  test('createContext contextifies the object it is given, and isContext knows it', () => {
    const sandbox = { a: 1 };
    assert.equal(vm.createContext(sandbox), sandbox);
    assert.equal(vm.isContext(sandbox), true);
    assert.equal(vm.createContext(sandbox), sandbox, 'again: the same context');
    assert.equal(vm.isContext({}), false);
    const fresh = vm.createContext();
    assert.equal(vm.isContext(fresh), true);
    assert.deepEqual(Object.keys(fresh), []);
  });

  test('bad arguments are TypeErrors with node:vm codes', () => {
    for (const bad of [() => vm.isContext(1), () => vm.createContext(1), () => vm.runInContext('1', {}), () => vm.createContext({}, 5)]) {
      assert.throws(bad, (error) => error instanceof TypeError && error.code === 'ERR_INVALID_ARG_TYPE');
    }
    assert.throws(() => vm.runInNewContext('1', {}, { timeout: -1 }), (error) => error instanceof RangeError && error.code === 'ERR_OUT_OF_RANGE');
    assert.throws(() => vm.createContext({}, { microtaskMode: 'never' }), (error) => error.code === 'ERR_INVALID_ARG_VALUE');
    const context = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
    assert.equal(vm.runInContext('var done = false; Promise.resolve().then(() => { done = true }); 1', context), 1);
    assert.equal(context.done, true, "the run's promise jobs ran before it ended");
  });
});

describe('the sandbox', () => {
  test('globals the code creates, changes and deletes are written back onto the object', () => {
    const sandbox = vm.createContext({ kept: 'k', changed: 1, removed: true, list: [1, 2] });
    const result = vm.runInContext('changed += 1; var made = { deep: [1, { n: 2 }] }; delete globalThis.removed; list.push(3); kept', sandbox);
    assert.equal(result, 'k');
    assert.deepEqual(sandbox, { kept: 'k', changed: 2, list: [1, 2, 3], made: { deep: [1, { n: 2 }] } });
    // The host's changes reach the next run.
    sandbox.changed = 10;
    delete sandbox.made;
    assert.equal(vm.runInContext('changed + typeof made', sandbox), '10undefined');
  });

  test("a built-in a V8 flag makes enumerable (--expose-gc's gc) is not written back", () => {
    const source = `const vm = require(${JSON.stringify(VM_PATH)}); const c = vm.createContext({ x: 1 });
      vm.runInContext('x + 1', c); console.log(JSON.stringify(Object.keys(c)))`;
    assert.equal(execFileSync(process.execPath, ['--expose-gc', '-e', source], { encoding: 'utf8' }), '["x"]\n');
  });

  test("the host's functions are callable inside, also within objects, and stay the host's", () => {
    const calls = [];
    const log = (...args) => calls.push(args);
    const sandbox = vm.createContext({ log, console: { info: log }, answer: () => 42 });
    assert.equal(vm.runInContext('log("a", 1); console.info({ b: 2 }); answer()', sandbox), 42);
    assert.deepEqual(calls, [['a', 1], [{ b: 2 }]]);
    assert.equal(sandbox.log, log, 'not replaced by a wrapper');
    assert.equal(vm.runInContext('log.constructor("return typeof process")()', sandbox), 'undefined');
  });

  test("functions defined inside come out callable, and a result is a copy", () => {
    const sandbox = vm.createContext({});
    vm.runInContext('function double(x) { return 2 * x }', sandbox);
    assert.equal(sandbox.double(21), 42);
    const result = vm.runInContext('({ date: new Date(0), map: new Map([[1, 2]]) })', sandbox);
    assert.ok(result.date instanceof Date && result.map instanceof Map, 'copied into Node realm');
  });

  test("an instance of a class goes in with its methods (not its getters), called on the instance; a function with properties, with them", () => {
    class Counter {
      #step = 2;
      constructor() {
        this.n = 1;
      }
      add(k) {
        this.n += k * this.#step;
        return this.n;
      }
      get label() {
        return `n=${this.n}`;
      }
    }
    const counter = new Counter();
    assert.equal(vm.runInNewContext('counter.add(2) + " " + typeof counter.label + " " + typeof counter.constructor', { counter }), '5 undefined function');
    assert.equal(counter.n, 5, "the method changed the host's instance");
    assert.equal(vm.runInNewContext('counter.n', { counter }), 5, 'its data is copied at each run');
    class TreeNode {
      constructor(parent) {
        this.parent = parent;
        this.children = [];
        parent?.children.push(this);
      }
      depth() {
        return this.parent ? 1 + this.parent.depth() : 0;
      }
    }
    const leaf = new TreeNode(new TreeNode(null));
    assert.equal(vm.runInNewContext('leaf.depth() + ":" + leaf.parent.children.length', { leaf }), '1:1', 'links back to itself');
    const _ = Object.assign((x) => x, { twice: (x) => 2 * x, VERSION: '1.0', tag: Symbol('left out') });
    assert.equal(vm.runInNewContext('_(1) + _.twice(3) + _.VERSION + typeof _.tag', { _ }), '71.0undefined');
    const copied = vm.runInNewContext('[m.get(1), d.getTime(), b.length]', { m: new Map([[1, 'a']]), d: new Date(7), b: Buffer.from('hi') });
    assert.deepEqual(copied, ['a', 7, 2], 'objects of built-in kinds are copies as before');
  });

  test('a call of a function defined inside writes back what it changed, which the next run keeps', () => {
    const sandbox = vm.createContext({});
    vm.runInContext('var counter = 0; function inc(n) { counter += n; return counter }', sandbox);
    assert.equal(sandbox.inc.name, 'inc');
    assert.equal(sandbox.inc(5), 5);
    assert.equal(sandbox.counter, 5);
    assert.equal(vm.runInContext('inc(1) + counter', sandbox), 12);
    assert.equal(sandbox.counter, 6);
    // Called by host code that a run called: the run writes it back.
    sandbox.viaHost = () => sandbox.inc(10);
    assert.equal(vm.runInContext('viaHost(); counter', sandbox), 16);
    assert.equal(sandbox.counter, 16);
    vm.runInContext('function fails() { counter = -1; throw new RangeError("r") }', sandbox);
    assert.throws(() => sandbox.fails(), { name: 'RangeError' });
    assert.equal(sandbox.counter, -1);
  });

  test('an async function defined inside, called from Node, gives a promise of what it came to, as in node:vm', async () => {
    const sandbox = vm.createContext({ log: [] });
    vm.runInContext(
      `var handled = 0;
       async function handle(event, reply) { await null; handled += 1; reply(event.id * 2); return { ok: this === globalThis, id: event.id } }
       async function refuse() { await null; throw new TypeError('refused ' + handled) }
       async function never() { return new Promise(() => {}) }`,
      sandbox,
    );
    const replies = [];
    const result = sandbox.handle({ id: 21 }, (value) => replies.push(value));
    assert.ok(result instanceof Promise);
    assert.deepEqual(await result, { ok: true, id: 21 });
    assert.deepEqual(replies, [42], 'a host function goes in as an argument as it does as a property');
    assert.equal(sandbox.handled, 1, "the promise's jobs ran in the call, and their changes are written back");
    await assert.rejects(sandbox.refuse(), { name: 'TypeError', message: 'refused 1' });
    await assert.rejects(sandbox.never(), /still pending/);
    // Given back, a function goes in as itself.
    sandbox.alias = sandbox.handle;
    assert.equal(vm.runInContext('alias === handle', sandbox), true);
  });

  test('a script that completes with a promise gives a promise of what it came to, as node:vm callers await', async () => {
    const sandbox = { n: 20 };
    const result = vm.runInNewContext('(async () => { await null; n += 1; return n * 2 })()', sandbox);
    assert.ok(result instanceof Promise);
    assert.equal(await result, 42);
    assert.equal(sandbox.n, 21, "the promise's jobs ran in the run, and their changes are written back");
    await assert.rejects(vm.runInNewContext('Promise.reject(new RangeError("no"))'), { name: 'RangeError', message: 'no' });
    await assert.rejects(vm.runInNewContext('new Promise(() => {})'), /still pending when its run ended/);
    const context = vm.createContext({});
    await assert.rejects(vm.runInContext('(async () => { throw new TypeError("late") })()', context), { name: 'TypeError' });
    assert.equal(vm.runInContext('1 + 1', context), 2, 'a rejection handed to Node does not fail a later run');
  });

  test('a value that cannot cross is a TransferError naming its path', () => {
    assert.throws(
      () => vm.runInNewContext('1', { outer: { inner: Symbol('s') } }),
      (error) => error instanceof ivm.TransferError && /outer\.inner/.test(error.message),
    );
    assert.throws(() => vm.runInNewContext('1', { pending: Promise.resolve() }), (error) => error instanceof ivm.TransferError && /pending/.test(error.message));
  });

  test('a global with no copy stays inside the context', () => {
    const sandbox = vm.createContext({});
    vm.runInContext('var box = { get() { return 7 } }', sandbox);
    assert.equal('box' in sandbox, false);
    assert.equal(vm.runInContext('box.get()', sandbox), 7);
  });
});

describe('compileFunction and code caches', () => {
  test('compileFunction makes a function of its context, callable from Node', () => {
    const add = vm.compileFunction('return a + b + (typeof process)', ['a', 'b']);
    assert.equal(add(1, 2), '3undefined');
    const sandbox = vm.createContext({ base: 40 });
    const plus = vm.compileFunction('return base + n', ['n'], { parsingContext: sandbox, filename: 'plus.js' });
    assert.equal(plus(2), 42);
    assert.throws(
      () => vm.compileFunction('throw new Error("inside")', [], { filename: 'f.js', lineOffset: 10 })(),
      (error) => error.message === 'inside' && /f\.js:11/.test(error.stack),
    );
    assert.throws(() => vm.compileFunction('return 1', 'a'), (error) => error.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => vm.compileFunction('return (', []), SyntaxError);
  });

  test('a script makes a code cache that another script of the same code takes', () => {
    const code = 'function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } fib(10)';
    const first = new vm.Script(code, { produceCachedData: true });
    assert.equal(first.cachedDataProduced, true);
    assert.ok(Buffer.isBuffer(first.cachedData) && first.cachedData.length > 0);
    const made = first.createCachedData();
    assert.ok(Buffer.isBuffer(made) && made.length > 0);
    const second = new vm.Script(code, { cachedData: made });
    assert.equal(second.cachedDataRejected, false);
    assert.equal(second.runInNewContext(), 55);
    const wrong = new vm.Script('1 + 1', { cachedData: made });
    assert.equal(wrong.cachedDataRejected, true);
    assert.equal(wrong.runInNewContext(), 2);
    assert.throws(() => new vm.Script('1', { cachedData: 'no' }), (error) => error.code === 'ERR_INVALID_ARG_TYPE');
  });
});

describe('modules', () => {
  test("SourceTextModule links through an async linker, evaluates with the context's globals, and writes back", async () => {
    const contextifiedObject = vm.createContext({ secret: 42 });
    const main = new vm.SourceTextModule("import s from 'foo'; globalThis.seen = s; export const doubled = s * 2;", {
      context: contextifiedObject,
      identifier: 'main.mjs',
    });
    assert.equal(main.status, 'unlinked');
    assert.deepEqual(main.dependencySpecifiers, ['foo']);
    assert.equal(main.identifier, 'main.mjs');
    assert.equal(main.context, contextifiedObject);
    const asked = [];
    await main.link(async (specifier, referencingModule) => {
      asked.push([specifier, referencingModule.identifier]);
      return new vm.SourceTextModule('export default secret;', { context: referencingModule.context });
    });
    assert.deepEqual(asked, [['foo', 'main.mjs']]);
    assert.equal(main.status, 'linked');
    assert.equal(await main.evaluate(), undefined);
    assert.equal(main.status, 'evaluated');
    assert.equal(main.namespace.doubled, 84);
    assert.equal(contextifiedObject.seen, 42);
  });

  test('initializeImportMeta: called once the module is linked, before its code runs, its properties copied onto import.meta', async () => {
    let given;
    // As with node:vm, the callback may name the module's own variable.
    const module = new vm.SourceTextModule('export const meta = { ...import.meta };', {
      initializeImportMeta(meta, owner) {
        given = owner === module;
        meta.prop = 42;
        meta.list = [1, 2];
      },
    });
    assert.equal(given, undefined);
    await module.link(() => {});
    assert.equal(given, true);
    await module.evaluate();
    assert.equal(module.namespace.meta.prop, 42);
    assert.deepEqual(module.namespace.meta.list, [1, 2]);
    assert.throws(
      () => new vm.SourceTextModule('', { initializeImportMeta: 1 }),
      (error) => error.code === 'ERR_INVALID_ARG_TYPE',
    );
  });

  test("importModuleDynamically: a module's import() gets the linked module it returns", async () => {
    const context = vm.createContext({ base: 20 });
    const dependency = new vm.SourceTextModule('export const value = base + 1;', { context });
    await dependency.link(() => {});
    const asked = [];
    const main = new vm.SourceTextModule(
      "import('dep').then((m) => { globalThis.result = m.value * 2; }, (e) => { globalThis.result = String(e); });",
      {
        context,
        importModuleDynamically(specifier, referrer, attributes) {
          asked.push([specifier, referrer === main, typeof attributes]);
          return dependency;
        },
      },
    );
    await main.link(() => {});
    await main.evaluate();
    for (let i = 0; i < 50 && vm.runInContext('typeof result', context) === 'undefined'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(vm.runInContext('result', context), 42);
    assert.deepEqual(asked, [['dep', true, 'object']]);
    const unlinked = new vm.SourceTextModule('export default 1', { context });
    const refusing = new vm.SourceTextModule("import('x').catch((e) => { globalThis.refused = e.message; });", {
      context,
      importModuleDynamically: () => unlinked,
    });
    await refusing.link(() => {});
    await refusing.evaluate();
    for (let i = 0; i < 50 && vm.runInContext('typeof refused', context) === 'undefined'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(vm.runInContext('refused', context), /Module status must not be unlinked or linking/);
    // Without the callback, as node:vm: a TypeError.
    const without = new vm.SourceTextModule("import('x').catch((e) => { globalThis.missing = e.name + ': ' + e.message; });", { context });
    await without.link(() => {});
    await without.evaluate();
    for (let i = 0; i < 50 && vm.runInContext('typeof missing', context) === 'undefined'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(vm.runInContext('missing', context), 'TypeError: A dynamic import callback was not specified.');
    assert.throws(
      () => new vm.SourceTextModule('', { importModuleDynamically: 1 }),
      (error) => error.code === 'ERR_INVALID_ARG_TYPE',
    );
  });

  test("a module's evaluate({ breakOnSigint }): Ctrl-C ends it with ERR_SCRIPT_EXECUTION_INTERRUPTED, and Node lives", async () => {
    const output = await interruptedChild(`(async () => {
       const module = new vm.SourceTextModule('for (;;) {}');
       await module.link(() => {});
       process.stdout.write('running\\n');
       try { await module.evaluate({ breakOnSigint: true }); }
       catch (error) { console.log(error.code + ': ' + error.message + ' ' + module.status); }
       console.log('after: ' + vm.runInThisContext('1 + 1'));
     })();`);
    assert.equal(output, 'running\nERR_SCRIPT_EXECUTION_INTERRUPTED: Script execution was interrupted by `SIGINT` errored\nafter: 2\n');
  });

  test('errors: a throwing module is errored, a runaway one times out, a bad linker result is refused', async () => {
    const failing = new vm.SourceTextModule('throw new RangeError("bad")');
    await failing.link(() => {});
    const thrown = await failing.evaluate().catch((error) => error);
    assert.ok(thrown instanceof RangeError && thrown.message === 'bad');
    assert.equal(failing.status, 'errored');
    assert.equal(failing.error, thrown);
    const slow = new vm.SourceTextModule('for (;;) {}');
    await slow.link(() => {});
    await assert.rejects(slow.evaluate({ timeout: 50 }), (error) => error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT');
    const needy = new vm.SourceTextModule("import x from 'x';");
    await assert.rejects(needy.link(() => ({})), (error) => error.code === 'ERR_VM_MODULE_NOT_MODULE');
    assert.throws(() => new vm.SourceTextModule('export let'), SyntaxError);
    const other = vm.createContext({});
    const crossing = new vm.SourceTextModule("import y from 'y';");
    await assert.rejects(
      crossing.link(() => new vm.SourceTextModule('export default 1', { context: other })),
      (error) => error.code === 'ERR_VM_MODULE_DIFFERENT_CONTEXT',
    );
  });

  test("SyntheticModule: Node's values as exports, made by its callback when it is evaluated", async () => {
    const context = vm.createContext({});
    const synthetic = new vm.SyntheticModule(
      ['answer', 'list'],
      function () {
        this.setExport('answer', 42);
        this.setExport('list', [1, 2]);
      },
      { context, identifier: 'synthetic' },
    );
    const main = new vm.SourceTextModule("import { answer, list } from 'synthetic'; globalThis.out = answer + list.length;", { context });
    await main.link(() => synthetic);
    await main.evaluate();
    assert.equal(context.out, 44);
    assert.deepEqual(Object.keys(context), ['out'], 'its machinery is not among the globals');
    assert.equal(synthetic.namespace.answer, 42);
    synthetic.setExport('answer', 7);
    assert.equal(synthetic.namespace.answer, 7);
    assert.throws(() => synthetic.setExport('missing', 1), (error) => error.code === 'ERR_VM_MODULE_EXPORT_NOT_FOUND');
    assert.throws(() => new vm.SyntheticModule(['a', 'a'], () => {}), (error) => error.code === 'ERR_INVALID_ARG_VALUE');
  });

  test("the first experimental vm.Module: url, link, linkingStatus, instantiate, evaluate to { result }", async () => {
    const context = vm.createContext({ secret: 42 });
    const bar = new vm.Module("import s from 'foo'; globalThis.got = s;", { context, url: 'bar.mjs' });
    assert.equal(bar.url, 'bar.mjs');
    assert.equal(bar.linkingStatus, 'unlinked');
    await bar.link(async (specifier, referencingModule) => new vm.Module('export default secret;', { context: referencingModule.context }));
    assert.equal(bar.linkingStatus, 'linked');
    assert.equal(bar.status, 'uninstantiated');
    bar.instantiate();
    assert.equal(bar.status, 'instantiated');
    assert.deepEqual(await bar.evaluate(), { result: undefined });
    assert.equal(bar.status, 'evaluated');
    assert.equal(context.got, 42);
  });
});

describe('contexts of runInNewContext', () => {
  test('go as soon as nothing of them is left outside, so a loop keeps memory flat', () => {
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 300; i++) {
      assert.equal(vm.runInNewContext('x + 1', { x: i }), i + 1);
      vm.runInNewContext('globalThis.y = 2');
    }
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grown < 150, `RSS grew ${grown.toFixed(0)} MiB over 600 contexts`);
  });

  test('a given object stays a context, and its globals carry over', () => {
    const sandbox = { n: 1 };
    vm.runInNewContext('n += 1; var label = "two"', sandbox);
    assert.equal(vm.isContext(sandbox), true);
    assert.equal(vm.runInContext('label + n', sandbox), 'two2');
    // A function of the context keeps it: it stays callable.
    const made = {};
    const f = vm.runInNewContext('function f() { return 5 } f', made);
    assert.equal(f(), 5);
    assert.equal(made.f(), 5);
  });
});

describe("node:vm's errors", () => {
  test('a timeout ends the run with ERR_SCRIPT_EXECUTION_TIMEOUT and the context stays usable', () => {
    const sandbox = vm.createContext({ n: 0 });
    assert.throws(
      () => vm.runInContext('n = 1; for (;;) {}', sandbox, { timeout: 50 }),
      (error) => error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT' && error.message === 'Script execution timed out after 50ms',
    );
    assert.equal(sandbox.n, 1, 'what ran before the timeout is written back');
    assert.equal(vm.runInContext('n + 1', sandbox), 2);
    // The older positional form: (code, sandbox, filename, timeout).
    assert.throws(() => vm.runInNewContext('for (;;) {}', {}, 'file.vm', 50), (error) => error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT');
  });

  test('breakOnSigint: Ctrl-C ends the run with ERR_SCRIPT_EXECUTION_INTERRUPTED, and Node lives', async () => {
    const output = await interruptedChild(`const context = vm.createContext({});
       process.stdout.write('running\\n');
       try { vm.runInContext('for (;;) {}', context, { breakOnSigint: true }); }
       catch (error) { console.log(error.code + ': ' + error.message); }
       console.log('after: ' + vm.runInContext('1 + 1', context));`);
    assert.equal(output, 'running\nERR_SCRIPT_EXECUTION_INTERRUPTED: Script execution was interrupted by `SIGINT`\nafter: 2\n');
  });

  test('a SyntaxError names the file and line, thrown by new Script', () => {
    assert.throws(
      () => new vm.Script('let a = 1;\nlet a = 2;', { filename: 'broken.js' }),
      (error) => error instanceof SyntaxError && error.message === "Identifier 'a' has already been declared" && error.stack.startsWith('broken.js:2\nlet a = 2;\n'),
    );
  });

  test('an exception thrown by the code keeps its class and message', () => {
    assert.throws(() => vm.runInNewContext('null.x'), (error) => error instanceof TypeError && /null/.test(error.message));
    assert.throws(() => vm.runInNewContext('throw new RangeError("r")'), (error) => error instanceof RangeError && error.message === 'r');
  });

  test("displayErrors (by default) opens an exception's stack with the place and line it was thrown at", () => {
    const thrownAt = (code, options) => {
      try {
        vm.runInNewContext(code, {}, options);
      } catch (error) {
        return error.stack.split('\n').slice(0, 4);
      }
      assert.fail('did not throw');
    };
    assert.deepEqual(thrownAt('let b = 2;\nnull.x', { filename: 'g.js' }), ['g.js:2', 'null.x', '     ^', '']);
    assert.deepEqual(thrownAt('null.x', { filename: 'h.js', lineOffset: 3, columnOffset: 2 }), ['h.js:4', 'null.x', '     ^', '']);
    const plain = thrownAt('null.x', { filename: 'g.js', displayErrors: false });
    assert.match(plain[0], /^TypeError: /);
    assert.match(thrownAt('for (;;) {}', { timeout: 20 })[0], /^Error: Script execution timed out/);
  });

  test('hostile memory ends in a MemoryLimitError and Node lives', () => {
    assert.throws(
      () => vm.runInNewContext('const a = []; for (;;) a.push(new Array(1e5).fill(1))', {}, { memoryLimit: 32 }),
      (error) => error instanceof ivm.MemoryLimitError,
    );
  });
});

describe('isolation', () => {
  test('code reaches no host object', () => {
    const verdict = vm.runInNewContext(
      `[
        this.constructor.constructor('return typeof process')(),
        log.constructor('return typeof process')(),
        (() => { try { return typeof Error.prepareStackTrace } catch { return 'x' } })(),
      ].join()`,
      { log: console.log },
    );
    assert.equal(verdict, 'undefined,undefined,undefined');
  });


  // The conformance cases' escapes and resource attacks, through runInNewContext.
  const cases = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'conformance', 'cases.json'), 'utf8'));
  for (const spec of cases.filter((c) => (c.suite === 'escapes' || c.suite === 'limits') && !('input' in c) && !c.options?.promise)) {
    test(`${spec.suite}: ${spec.name}`, () => {
      const options = spec.options ?? {};
      const sandbox = {
        host: (...args) => `host:${args.length}`,
        hostThrows: () => {
          throw new Error('from host');
        },
        hostLog: new ivm.Reference(function log(...args) {
          return args.length;
        }),
        hostObject: new ivm.Reference(conformanceHostObject()),
      };
      const run = () =>
        vm.runInNewContext(spec.code, sandbox, { timeout: options.timeout_ms, memoryLimit: options.memory_limit_mb });
      if ('throws' in spec) {
        assert.throws(run, (error) => {
          if (spec.throws.class === 'TimeoutError') return error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
          if (spec.throws.class === 'JsError') return error instanceof Error && (spec.throws.name === undefined || error.name === spec.throws.name);
          return error instanceof ivm[spec.throws.class];
        });
      } else {
        const result = run();
        if (typeof spec.expect !== 'object') assert.equal(result, spec.expect);
      }
      if (spec.after === 'usable') assert.equal(vm.runInContext('1 + 1', sandbox), 2);
    });
  }
});
