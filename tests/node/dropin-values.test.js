'use strict';
// Values crossing the isolate boundary, as isolated-vm 7.0.1 moves them:
// functions leaving an isolate, sync re-entry through References to Node
// functions, the library used inside isolates, References to Node values
// and their single-use markers, and the transfer options (`copy`,
// `externalCopy`, `reference`, `promise`).
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { ivm, itWithGaps } = require('./support/implementation');

// Tests of behaviours ivm does not have yet (see itWithGaps).
const GAPS = new Set([
]);
const it = itWithGaps(GAPS);

// Every test gets a per-test timeout so a hang fails instead of stalling.
const T = { timeout: 10000 };
// Isolate calls that may reach back into Node get a short run timeout.
const SHORT = { timeout: 2000 };

// Runs `body` with a fresh isolate and context, disposing the isolate after.
async function withIsolate(body) {
  const isolate = new ivm.Isolate();
  try {
    const context = isolate.createContextSync();
    return await body({ isolate, context });
  } finally {
    if (!isolate.isDisposed) isolate.dispose();
  }
}

const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

// The TypeError V8's serializer raises for a function it is asked to copy.
const notCloned = (source) => ({ name: 'TypeError', message: `${source} could not be cloned.` });
const NON_TRANSFERABLE = { name: 'TypeError', message: 'A non-transferable value was passed' };
const RELEASED = { name: 'Error', message: 'Reference has been released' };
const COPY_RELEASED = { name: 'Error', message: 'Copy has been released' };
const DEREF_INTO_TARGET = { name: 'TypeError', message: 'Cannot dereference this into target isolate' };
const DEREF_FROM_CURRENT = { name: 'TypeError', message: 'Cannot dereference this from current isolate' };
const DEREF_ONCE = { name: 'Error', message: 'The return value of `derefInto()` should only be used once' };
const COPY_ONCE = { name: 'Error', message: 'The return value of `copyInto()` should only be used once' };

describe('1. functions leaving an isolate come out as functions', () => {
  it('evalSync of a function expression gives a callable host function with its name and length', T, () => withIsolate(({ context }) => {
    const add = context.evalSync('(function add(a, b) { return a + b })');
    assert.equal(typeof add, 'function');
    assert.ok(!(add instanceof ivm.Reference));
    assert.equal(add.name, 'add');
    assert.equal(add.length, 2);
    assert.equal(add(2, 3), 5);
  }));

  it('calling the host function runs the isolate function synchronously', T, () => withIsolate(({ context }) => {
    const store = context.evalSync('(function (v) { globalThis.stored = v; return "done" })');
    assert.equal(store(5), 'done');
    // The side effect is visible at once, with no await in between.
    assert.equal(context.evalSync('stored'), 5);
  }));

  it('getSync of a function property gives a function', T, () => withIsolate(({ context }) => {
    context.evalSync('globalThis.o = { f: function foo(x) { return x * 2 } }');
    const foo = context.global.getSync('o').getSync('f');
    assert.equal(typeof foo, 'function');
    assert.equal(foo.name, 'foo');
    assert.equal(foo(21), 42);
  }));

  it('applySync returning a function gives a function', T, () => withIsolate(({ context }) => {
    const maker = context.evalSync('(function () { return function inner() { return 7 } })', { reference: true });
    const inner = maker.applySync();
    assert.equal(typeof inner, 'function');
    assert.equal(inner.name, 'inner');
    assert.equal(inner(), 7);
  }));

  it('evalClosureSync and script.runSync returning a function give functions', T, () => withIsolate(({ isolate, context }) => {
    const c = context.evalClosureSync('return function c(x) { return x + $0 }', [10]);
    assert.equal(typeof c, 'function');
    assert.equal(c(1), 11);
    const s = isolate.compileScriptSync('(function s() { return "s" })').runSync(context);
    assert.equal(typeof s, 'function');
    assert.equal(s(), 's');
  }));

  it('getSync on a module namespace gives exported functions as functions', T, () => withIsolate(({ isolate, context }) => {
    const module = isolate.compileModuleSync(
      'export function mf(x) { return x + 1 }\nexport const v = 5;\nexport default function () { return "d" }');
    module.instantiateSync(context, () => { throw new Error('no dependencies'); });
    module.evaluateSync();
    const mf = module.namespace.getSync('mf');
    assert.equal(typeof mf, 'function');
    assert.equal(mf(1), 2);
    const def = module.namespace.getSync('default');
    assert.equal(typeof def, 'function');
    assert.equal(def(), 'd');
    assert.equal(module.namespace.getSync('v'), 5);
  }));

  it('the async forms (eval, evalClosure, get, apply, run) resolve to functions too', T, () => withIsolate(async ({ isolate, context }) => {
    const e = await context.eval('(function e() { return "e" })');
    assert.equal(typeof e, 'function');
    assert.equal(e(), 'e');
    const c = await context.evalClosure('return function c() { return "c" }');
    assert.equal(c(), 'c');
    context.evalSync('globalThis.gf = function g() { return "g" }');
    const g = await context.global.get('gf');
    assert.equal(g(), 'g');
    const a = await context.evalSync('(() => () => "a")', { reference: true }).apply();
    assert.equal(a(), 'a');
    const r = await isolate.compileScriptSync('(() => "r")').run(context);
    assert.equal(r(), 'r');
  }));

  it('{ reference: true } gives a Reference with typeof "function" instead', T, () => withIsolate(async ({ context }) => {
    const viaEval = context.evalSync('(function f() {})', { reference: true });
    assert.ok(viaEval instanceof ivm.Reference);
    assert.equal(viaEval.typeof, 'function');
    context.evalSync('globalThis.gf = function g() { return 3 }');
    const viaGet = context.global.getSync('gf', { reference: true });
    assert.ok(viaGet instanceof ivm.Reference);
    assert.equal(viaGet.applySync(), 3);
    const maker = context.evalSync('(() => function inner() {})', { reference: true });
    const viaApply = maker.applySync(undefined, [], { result: { reference: true } });
    assert.ok(viaApply instanceof ivm.Reference);
    assert.equal(viaApply.typeof, 'function');
    const viaAsync = await context.eval('(function () {})', { reference: true });
    assert.ok(viaAsync instanceof ivm.Reference);
  }));

  it('{ copy: true } and { externalCopy: true } on a function throw TypeError "... could not be cloned."', T, () => withIsolate(({ context }) => {
    assert.throws(() => context.evalSync('(function f() {})', { copy: true }), notCloned('function f() {}'));
    assert.throws(() => context.evalSync('(function f() {})', { externalCopy: true }), notCloned('function f() {}'));
    context.evalSync('globalThis.gf = function g() {}');
    assert.throws(() => context.global.getSync('gf', { copy: true }), notCloned('function g() {}'));
    const maker = context.evalSync('(() => function inner() {})', { reference: true });
    assert.throws(() => maker.applySync(undefined, [], { result: { copy: true } }), notCloned('function inner() {}'));
    // Reference#copySync uses the same copy rules.
    assert.throws(() => context.global.getSync('gf', { reference: true }).copySync(), notCloned('function g() {}'));
  }));

  it('a function inside an object does not make the object transferable', T, () => withIsolate(({ context }) => {
    // evalSync gives undefined for any non-transferable result...
    assert.equal(context.evalSync('({ a: 1, f() {} })'), undefined);
    // ...evalClosureSync throws, and copying throws on the nested function.
    assert.throws(() => context.evalClosureSync('return { a: 1, f() {} }'), NON_TRANSFERABLE);
    assert.throws(() => context.evalSync('({ a: 1, f() {} })', { copy: true }), notCloned('f() {}'));
  }));

  it('arguments are copied in: objects, Map, Date, typed arrays, bigint; mutations do not flow back', T, () => withIsolate(({ context }) => {
    const probe = context.evalSync(
      '(function (o, m, d, u8, big) { o.n = 2; return [o.n, m.get(1), d.getTime(), u8.constructor.name + u8.length, typeof big, big] })');
    const arg = { n: 1 };
    assert.deepEqual(probe(arg, new Map([[1, 'one']]), new Date(0), new Uint8Array(3), 10n), [2, 'one', 0, 'Uint8Array3', 'bigint', 10n]);
    assert.equal(arg.n, 1);
  }));

  it('Reference, ExternalCopy and copyInto() arguments arrive as such; a function argument throws', T, () => withIsolate(({ context }) => {
    context.global.setSync('ivm', ivm);
    const kinds = context.evalSync('(function (r, e, c) { return [r instanceof ivm.Reference, r.typeof, e instanceof ivm.ExternalCopy, c.z] })');
    assert.deepEqual(kinds(new ivm.Reference({}), new ivm.ExternalCopy(1), new ivm.ExternalCopy({ z: 1 }).copyInto()),
      [true, 'object', true, 1]);
    const id = context.evalSync('(x => x)');
    assert.throws(() => id(function () {}), notCloned('function () {}'));
  }));

  it('return values are copied out, fresh on each call; a returned function comes out as a function', T, () => withIsolate(({ context }) => {
    const get = context.evalSync('globalThis.shared = { v: [1] }; (() => shared)');
    const a = get();
    const b = get();
    assert.deepEqual(a, { v: [1] });
    assert.notEqual(a, b);
    assert.deepEqual(context.evalSync('(() => new Map([[1, "one"]]))')(), new Map([[1, 'one']]));
    const outer = context.evalSync('(() => function () { return 9 })');
    const inner = outer();
    assert.equal(typeof inner, 'function');
    assert.equal(inner(), 9);
  }));

  it('returning a promise, a symbol or an object holding a function throws TypeError', T, () => withIsolate(({ context }) => {
    assert.throws(() => context.evalSync('(async () => 1)')(), { name: 'TypeError', message: '#<Promise> could not be cloned.' });
    assert.throws(() => context.evalSync('(() => Symbol("x"))')(), { name: 'TypeError', message: 'Unsupported type' });
    assert.throws(() => context.evalSync('(() => ({ f() {} }))')(), notCloned('f() {}'));
  }));

  it('the receiver is undefined and the function cannot be constructed', T, () => withIsolate(({ context }) => {
    const strictThis = context.evalSync('(function () { "use strict"; return this === undefined })');
    assert.equal(strictThis(), true);
    const f = context.evalSync('(function () {})');
    assert.throws(() => new f(), { name: 'TypeError', message: /is not a constructor/ });
  }));

  it('errors thrown inside reach the caller with their class and message', T, () => withIsolate(({ context }) => {
    assert.throws(() => context.evalSync('(() => { throw new RangeError("boom") })')(), { name: 'RangeError', message: 'boom' });
    assert.throws(() => context.evalSync('(() => { throw "str" })')(), (e) => e === 'str');
    assert.throws(() => context.evalSync('(() => { throw { code: 1 } })')(), {
      name: 'Error',
      message: 'An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`.',
    });
  }));

  it('such a function can be passed back into its isolate and called there', T, () => withIsolate(({ context }) => {
    const dbl = context.evalSync('(x => x * 2)');
    context.global.setSync('dbl2', dbl);
    assert.equal(context.evalSync('typeof dbl2 + dbl2(4)', SHORT), 'function8');
  }));

  it('calling it after the isolate is disposed throws "Isolated is disposed"', T, async () => {
    const isolate = new ivm.Isolate();
    const f = isolate.createContextSync().evalSync('(x => x)');
    assert.equal(f(1), 1);
    isolate.dispose();
    assert.throws(() => f(1), { name: 'Error', message: 'Isolated is disposed' });
  });
});

describe('2. sync re-entry from host functions reached through References', () => {
  // A host function that uses the isolate synchronously in four ways.
  const reenter = (context) => (x) => {
    const a = context.evalSync('counter += 1; counter');
    const dbl = context.global.getSync('double');
    const b = dbl(x);
    const c = context.global.getSync('double', { reference: true }).applySync(undefined, [a]);
    const addCounter = context.evalSync('(y => y + counter)');
    return [a, b, c, addCounter(100)].join(',');
  };
  const setup = (context) => context.evalSync('globalThis.counter = 10; globalThis.double = x => x * 2;');

  it('a Reference to a Node function set on the global may evalSync / getSync / applySync into the same isolate', T, () => withIsolate(({ context }) => {
    setup(context);
    context.global.setSync('hostRef', new ivm.Reference(reenter(context)));
    assert.equal(context.evalSync('hostRef.typeof', SHORT), 'function');
    assert.equal(context.evalSync('hostRef.applySync(undefined, [3])', SHORT), '11,6,22,111');
    // The outer script sees what the re-entrant calls did.
    assert.equal(context.evalSync('hostRef.applySync(undefined, [1]); counter', SHORT), 12);
  }));

  it('a Reference passed as an evalClosureSync argument works the same', T, () => withIsolate(({ context }) => {
    setup(context);
    assert.equal(context.evalClosureSync('return $0.applySync(undefined, [4])', [new ivm.Reference(reenter(context))], SHORT),
      '11,8,22,111');
  }));

  it('a plain function with { arguments: { reference: true } } arrives as a Reference that re-enters', T, () => withIsolate(({ context }) => {
    setup(context);
    assert.equal(context.evalClosureSync('return [$0.typeof, $0.applySync(undefined, [6])].join("|")', [reenter(context)],
      { arguments: { reference: true }, ...SHORT }), 'function|11,12,22,111');
  }));

  it('plain functions and Callbacks passed in re-enter the same way', T, () => withIsolate(({ context }) => {
    setup(context);
    assert.equal(context.evalClosureSync('return typeof $0 + ":" + $0(5)', [reenter(context)], SHORT), 'function:11,10,22,111');
    assert.equal(context.evalClosureSync('return $0(7)', [new ivm.Callback(reenter(context))], SHORT), '12,14,24,112');
    context.global.setSync('plain', reenter(context));
    assert.equal(context.evalSync('plain(8)', SHORT), '13,16,26,113');
  }));

  it('nested re-entry: isolate -> host -> isolate -> host', T, () => withIsolate(({ context }) => {
    context.global.setSync('inner', new ivm.Reference(() => 'innerval'));
    context.global.setSync('outer', new ivm.Reference(() => context.evalSync('inner.applySync(undefined, []) + "!"', SHORT)));
    assert.equal(context.evalSync('outer.applySync(undefined, []) + "?"', SHORT), 'innerval!?');
  }));

  it('an error thrown by a host function reached through applySync arrives in the isolate with its class and message', T, () => withIsolate(({ context }) => {
    context.global.setSync('bad', new ivm.Reference(() => { throw new TypeError('host boom'); }));
    assert.equal(context.evalSync(
      'try { bad.applySync(undefined, []) } catch (e) { [e instanceof TypeError, e.message].join() }', SHORT),
    'true,host boom');
  }));

  it('an error thrown after re-entering the isolate reaches it too, with the re-entrant effects kept', T, () => withIsolate(({ context }) => {
    context.global.setSync('bad', new ivm.Reference(() => {
      context.evalSync('globalThis.touched = true');
      throw new TypeError('host boom');
    }));
    assert.equal(context.evalSync(
      'try { bad.applySync(undefined, []) } catch (e) { [e instanceof TypeError, e.message, touched].join() }', SHORT),
    'true,host boom,true');
  }));

  it('Reference#apply (async) from the isolate calls the host function later and resolves there', T, () => withIsolate(async ({ context }) => {
    setup(context);
    context.global.setSync('hostRef', new ivm.Reference(reenter(context)));
    context.evalSync('hostRef.apply(undefined, [1]).then(v => { globalThis.got = v }, e => { globalThis.got = "rejected: " + e.message })', SHORT);
    for (let i = 0; i < 100 && context.evalSync('typeof got') === 'undefined'; i++) await tick(5);
    assert.equal(context.evalSync('got'), '11,2,22,111');
  }));
});

describe('3. the library inside isolates', () => {
  // Puts the library, the isolate and the context on the isolate's global.
  const install = (isolate, context) => {
    context.global.setSync('ivm', ivm);
    context.global.setSync('iso', isolate);
    context.global.setSync('ctx', context);
  };

  it('the module object is transferable and arrives as a frozen library with the classes and lib', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.deepEqual(context.evalSync(`JSON.stringify([
      typeof ivm, typeof ivm.Reference, typeof ivm.ExternalCopy, typeof ivm.Callback, typeof ivm.Isolate,
      typeof ivm.Context, typeof ivm.Script, typeof ivm.lib, typeof ivm.lib.hrtime, typeof ivm.lib.privateSymbol,
      Object.isFrozen(ivm), Object.isFrozen(ivm.Reference.prototype), Object.isFrozen(ivm.ExternalCopy.prototype)])`),
    JSON.stringify(['object', 'function', 'function', 'function', 'function',
      'function', 'function', 'object', 'function', 'function', true, true, true]));
  }));

  it('new ivm.Reference inside: instanceof, prototype, typeof, deref identity, copySync, getSync', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync(`
      const o = { a: 1, f() { return 5 } };
      const r = new ivm.Reference(o);
      const p = new ivm.Reference(42);
      JSON.stringify([r instanceof ivm.Reference, Object.getPrototypeOf(r) === ivm.Reference.prototype, r.typeof,
        r.deref() === o, r.getSync('a'), typeof r.getSync('f'), r.getSync('f')(), p.typeof, p.deref(), p.copySync()])`, SHORT),
    JSON.stringify([true, true, 'object', true, 1, 'function', 5, 'number', 42, 42]));
  }));

  it('a Reference made inside comes out as a Reference Node can copy but not deref', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    const ref = context.evalSync('new ivm.Reference({ k: 1 })');
    assert.ok(ref instanceof ivm.Reference);
    assert.equal(ref.typeof, 'object');
    assert.deepEqual(ref.copySync(), { k: 1 });
    assert.throws(() => ref.deref(), DEREF_FROM_CURRENT);
  }));

  it('new ivm.ExternalCopy inside: instanceof, copy, and copyInto() / the instance carried out to Node', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync(
      'const e = new ivm.ExternalCopy({ x: [1, 2] }); JSON.stringify([e instanceof ivm.ExternalCopy, e.copy()])'),
    JSON.stringify([true, { x: [1, 2] }]));
    assert.deepEqual(context.evalSync('new ivm.ExternalCopy({ k: [1] }).copyInto()'), { k: [1] });
    const ec = context.evalSync('new ivm.ExternalCopy([1, 2, 3])');
    assert.ok(ec instanceof ivm.ExternalCopy);
    assert.deepEqual(ec.copy(), [1, 2, 3]);
  }));

  it('the marker copyInto() gives inside the isolate arrives in Node as the copy, once', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    context.evalSync('globalThis.m = new ivm.ExternalCopy({ n: [1] }).copyInto(); undefined');
    assert.equal(context.evalSync('typeof m'), 'object');
    assert.deepEqual(context.evalSync('m'), { n: [1] });
    assert.throws(() => context.evalSync('m'), COPY_ONCE);
  }));

  it('a Reference, an ExternalCopy and a copyInto() marker made inside pass to a host function as themselves', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    const seen = [];
    context.global.setSync('record', new ivm.Reference((value) => { seen.push(value); }));
    context.evalSync('record.applySync(undefined, [new ivm.Reference({ a: 1 })])');
    context.evalSync('record.applySync(undefined, [new ivm.ExternalCopy({ b: 2 })])');
    context.evalSync('record.applySync(undefined, [new ivm.ExternalCopy({ c: 3 }).copyInto()])');
    assert.ok(seen[0] instanceof ivm.Reference);
    assert.deepEqual(seen[0].copySync(), { a: 1 });
    assert.ok(seen[1] instanceof ivm.ExternalCopy);
    assert.deepEqual(seen[1].copy(), { b: 2 });
    assert.deepEqual(seen[2], { c: 3 });
  }));

  it('new ivm.Callback inside: instanceof, and it comes out to Node as a callable function', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync('const c = new ivm.Callback(x => x + 1); [c instanceof ivm.Callback, typeof c].join()'), 'true,object');
    const mul = context.evalSync('new ivm.Callback((a, b) => a * b)');
    assert.equal(typeof mul, 'function');
    assert.equal(mul(6, 7), 42);
  }));

  it('ivm.lib.hrtime gives [seconds, nanoseconds] and diffs against a previous value', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync(`
      const h = ivm.lib.hrtime();
      const d = ivm.lib.hrtime(h);
      JSON.stringify([Array.isArray(h), h.length, Number.isInteger(h[0]), Number.isInteger(h[1]), h[1] < 1e9,
        d.length, d[0], d[1] >= 0])`),
    JSON.stringify([true, 2, true, true, true, 2, 0, true]));
    assert.equal(context.evalSync('try { ivm.lib.hrtime([1]) } catch (e) { e.constructor.name + ": " + e.message }'),
      'TypeError: hrtime diff must be 2-length array');
    assert.equal(context.evalSync('typeof ivm.lib.privateSymbol("x")'), 'symbol');
  }));

  it('compileModuleSync with meta inside the isolate: import.meta is filled by the callback', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync(`
      const m = iso.compileModuleSync('export const url = import.meta.url; export const x = import.meta.x;',
        { meta: meta => { meta.url = 'file:///m.js'; meta.x = 7; } });
      m.instantiateSync(ctx, () => { throw new Error('no deps'); });
      m.evaluateSync();
      JSON.stringify([typeof m, m.namespace instanceof ivm.Reference, m.namespace.typeof, m.namespace.deref().url, m.namespace.deref().x])`, SHORT),
    JSON.stringify(['object', true, 'object', 'file:///m.js', 7]));
  }));

  it('compileModule (async) with meta inside the isolate', T, () => withIsolate(async ({ isolate, context }) => {
    install(isolate, context);
    assert.equal(await context.eval(`(async () => {
      const m = await iso.compileModule('export const y = import.meta.y * 2', { meta: meta => { meta.y = 21 } });
      await m.instantiate(ctx, () => { throw new Error('no deps') });
      await m.evaluate();
      return m.namespace.deref().y;
    })()`, { promise: true, ...SHORT }), 42);
  }));

  it('modules inside the isolate link through the resolver, sync and async', T, () => withIsolate(async ({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync(`
      const dep = iso.compileModuleSync('export const base = 40');
      const main = iso.compileModuleSync('import { base } from "dep"; export const answer = base + 2');
      const asked = [];
      main.instantiateSync(ctx, (specifier, referrer) => { asked.push(specifier, referrer === main); return dep; });
      main.evaluateSync();
      JSON.stringify([main.dependencySpecifiers, asked, main.namespace.deref().answer])`, SHORT),
    JSON.stringify([['dep'], ['dep', true], 42]));
    assert.equal(await context.eval(`(async () => {
      const leaf = await iso.compileModule('export default 5');
      const root = await iso.compileModule('import five from "leaf"; export const ten = five * 2');
      await root.instantiate(ctx, async (specifier) => leaf);
      await root.evaluate();
      return root.namespace.deref().ten;
    })()`, { promise: true, ...SHORT }), 10);
    assert.equal(context.evalSync(`
      const lonely = iso.compileModuleSync('import x from "nowhere"');
      try { lonely.instantiateSync(ctx, () => ({})); 'no' } catch (e) { e.constructor.name + ': ' + e.message }`, SHORT),
    'TypeError: Resolved dependency was not `Module`');
  }));

  it('meta passed from Node for another isolate throws "`meta` callback must belong to entered isolate"', T, () => withIsolate(async ({ isolate }) => {
    const expected = { name: 'Error', message: '`meta` callback must belong to entered isolate' };
    assert.throws(() => isolate.compileModuleSync('export default import.meta.x', { meta: (m) => { m.x = 1; } }), expected);
    await assert.rejects(isolate.compileModule('export default import.meta.x', { meta: (m) => { m.x = 1; } }), expected);
  }));

  it('Isolate, Context and Script handles work inside: compile and run in the same isolate, create a nested one', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    assert.equal(context.evalSync(`
      const s = iso.compileScriptSync('6 * 7');
      [iso instanceof ivm.Isolate, ctx instanceof ivm.Context, s instanceof ivm.Script, s.runSync(ctx)].join()`, SHORT),
    'true,true,true,42');
    assert.equal(context.evalSync(
      'const i2 = new ivm.Isolate(); const c2 = i2.createContextSync(); const v = c2.evalSync("1 + 2"); i2.dispose(); v', SHORT), 3);
  }));

  it('the library carried back out gives classes whose instances are Node\'s', T, () => withIsolate(({ isolate, context }) => {
    install(isolate, context);
    const lib = context.evalSync('ivm');
    assert.equal(typeof lib, 'object');
    assert.ok(new lib.Reference(1) instanceof ivm.Reference);
    assert.ok(new lib.ExternalCopy(1) instanceof ivm.ExternalCopy);
  }));
});

describe('4. References to Node values', () => {
  const sym = Symbol('s');
  // [label, value, reference.typeof]
  const primitives = [
    ['number', 1.5, 'number'], ['NaN', NaN, 'number'], ['-0', -0, 'number'], ['string', 'str', 'string'],
    ['true', true, 'boolean'], ['false', false, 'boolean'], ['undefined', undefined, 'undefined'],
    ['null', null, 'null'], ['bigint', 10n, 'object'], ['symbol', sym, 'object'],
  ];

  it('new ivm.Reference(primitive): typeof per isolated-vm (null is "null", bigint and symbol "object"), deref gives the value', T, () => {
    for (const [label, value, type] of primitives) {
      const ref = new ivm.Reference(value);
      assert.equal(ref.typeof, type, label);
      assert.ok(Object.is(ref.deref(), value), label);
    }
  });

  it('copySync of a primitive Reference gives the value; a symbol throws TypeError "Unsupported type"', T, () => {
    for (const [label, value] of primitives) {
      const ref = new ivm.Reference(value);
      if (typeof value === 'symbol') {
        assert.throws(() => ref.copySync(), { name: 'TypeError', message: 'Unsupported type' });
      } else {
        assert.ok(Object.is(ref.copySync(), value), label);
      }
    }
  });

  it('inside an isolate, a Reference to a Node primitive has the same typeof and copySync', T, () => withIsolate(({ context }) => {
    const seen = [];
    for (const [label, value] of primitives) {
      context.global.setSync('p', new ivm.Reference(value));
      seen.push(context.evalSync(
        'p.typeof + ":" + (() => { try { return String(p.copySync()) } catch (e) { return e.constructor.name + " " + e.message } })()', SHORT));
      assert.ok(seen.at(-1), label);
    }
    assert.deepEqual(seen, ['number:1.5', 'number:NaN', 'number:0', 'string:str', 'boolean:true', 'boolean:false',
      'undefined:undefined', 'null:null', 'object:10', 'object:TypeError Unsupported type']);
  }));

  it('inside an isolate, a Reference to a Node object can getSync and copySync but not deref', T, () => withIsolate(({ context }) => {
    context.global.setSync('nref', new ivm.Reference({ a: 1, nested: { b: [2] } }));
    assert.equal(context.evalSync('nref.getSync("a")', SHORT), 1);
    assert.equal(context.evalSync('nref.getSync("nested").typeof', SHORT), 'object');
    assert.equal(context.evalSync('JSON.stringify(nref.copySync())', SHORT), '{"a":1,"nested":{"b":[2]}}');
    assert.equal(context.evalSync('try { nref.deref() } catch (e) { e.constructor.name + ": " + e.message }', SHORT),
      'TypeError: Cannot dereference this from current isolate');
  }));

  it('derefInto() of a Reference to a Node value cannot go into another isolate: TypeError', T, () => withIsolate(({ context }) => {
    assert.throws(() => context.evalClosureSync('return typeof $0', [new ivm.Reference({ a: 1 }).derefInto()]), DEREF_INTO_TARGET);
    assert.throws(() => context.evalClosureSync('return $0', [new ivm.Reference(5).derefInto()]), DEREF_INTO_TARGET);
    assert.throws(() => context.global.setSync('x', new ivm.Reference({}).derefInto()), DEREF_INTO_TARGET);
  }));

  it('derefInto() made inside the isolate on a Node Reference arrives in Node as the very object', T, () => withIsolate(({ context }) => {
    const obj = { a: 1 };
    context.global.setSync('nref', new ivm.Reference(obj));
    context.global.setSync('check', new ivm.Reference((v) => v === obj));
    assert.equal(context.evalSync('check.applySync(undefined, [nref.derefInto()])', SHORT), true);
    assert.equal(context.evalSync('nref.derefInto()', SHORT), obj);
    assert.equal(context.evalClosureSync('return $0.derefInto()', [new ivm.Reference(obj)], SHORT), obj);
    // Once only; a Reference into the isolate itself cannot leave by it; `release` lets go of the Reference.
    context.evalSync('globalThis.once = nref.derefInto(); undefined', SHORT);
    assert.equal(context.evalSync('check.applySync(undefined, [once])', SHORT), true);
    assert.throws(() => context.evalSync('check.applySync(undefined, [once])', SHORT), DEREF_ONCE);
    context.global.setSync('iref', context.evalSync('({ z: 9 })', { reference: true }));
    assert.throws(() => context.evalSync('iref.derefInto()', SHORT), DEREF_INTO_TARGET);
    assert.equal(context.evalSync('nref.derefInto({ release: true }); try { nref.typeof } catch (e) { e.message }', SHORT),
      'Reference has been released');
  }));

  it('release(): every later use throws Error "Reference has been released"', T, () => withIsolate(({ context }) => {
    const ref = new ivm.Reference({ b: 2 });
    assert.equal(ref.release(), undefined);
    assert.throws(() => ref.typeof, RELEASED);
    assert.throws(() => ref.deref(), RELEASED);
    assert.throws(() => ref.copySync(), RELEASED);
    assert.throws(() => ref.derefInto(), RELEASED);
    assert.throws(() => ref.getSync('b'), RELEASED);
    assert.throws(() => ref.applySync(), RELEASED);
    assert.throws(() => ref.release(), RELEASED);
    // Released from inside the isolate, the isolate's handle is dead too.
    context.global.setSync('nref', new ivm.Reference({}));
    assert.equal(context.evalSync('nref.release(); try { nref.copySync() } catch (e) { e.constructor.name + ": " + e.message }', SHORT),
      'Error: Reference has been released');
  }));

  it('{ release: true } on deref / derefInto releases at once; the derefInto marker stays usable', T, () => withIsolate(({ context }) => {
    const ref = new ivm.Reference({ c: 3 });
    assert.deepEqual(ref.deref({ release: true }), { c: 3 });
    assert.throws(() => ref.deref(), RELEASED);
    context.evalSync('globalThis.iobj = { m: 9 }');
    const iref = context.global.getSync('iobj');
    const marker = iref.derefInto({ release: true });
    assert.throws(() => iref.typeof, RELEASED);
    context.global.setSync('back', marker);
    assert.equal(context.evalSync('back === iobj'), true);
  }));

  it('Reference#copySync takes no release option: the Reference stays alive', T, () => {
    const ref = new ivm.Reference({ x: 1 });
    assert.deepEqual(ref.copySync({ release: true }), { x: 1 });
    assert.equal(ref.typeof, 'object');
  });

  it('{ release: true } on ExternalCopy copy / copyInto releases at once: "Copy has been released"', T, () => withIsolate(({ context }) => {
    const ec = new ivm.ExternalCopy({ z: 1 });
    assert.deepEqual(ec.copy({ release: true }), { z: 1 });
    assert.throws(() => ec.copy(), COPY_RELEASED);
    assert.throws(() => ec.copyInto(), COPY_RELEASED);
    const ec2 = new ivm.ExternalCopy({ z: 2 });
    const marker = ec2.copyInto({ release: true });
    assert.throws(() => ec2.copy(), COPY_RELEASED);
    assert.equal(context.evalClosureSync('return $0.z', [marker]), 2);
  }));

  it('a copyInto() marker is single-use', T, () => withIsolate(({ context }) => {
    const marker = new ivm.ExternalCopy({ w: 3 }).copyInto();
    assert.equal(context.evalClosureSync('return $0.w', [marker]), 3);
    assert.throws(() => context.evalClosureSync('return $0.w', [marker]), COPY_ONCE);
    const id = context.evalSync('(x => x)');
    const marker2 = new ivm.ExternalCopy({ a: 1 }).copyInto();
    assert.deepEqual(id(marker2), { a: 1 });
    assert.throws(() => id(marker2), COPY_ONCE);
  }));

  it('a derefInto() marker is single-use, even when its first use failed', T, () => withIsolate(({ context }) => {
    context.evalSync('globalThis.iobj = { m: 9 }');
    const marker = context.global.getSync('iobj').derefInto();
    context.global.setSync('back', marker);
    assert.equal(context.evalSync('back === iobj'), true);
    assert.throws(() => context.global.setSync('again', marker), DEREF_ONCE);
    const nodeMarker = new ivm.Reference({}).derefInto();
    assert.throws(() => context.global.setSync('z', nodeMarker), DEREF_INTO_TARGET);
    assert.throws(() => context.global.setSync('z', nodeMarker), DEREF_ONCE);
  }));

  it('markers returned by host functions the isolate calls arrive as the value they stand for', T, () => withIsolate(({ context }) => {
    context.evalSync('globalThis.iobj = { m: 9 }');
    const iref = context.global.getSync('iobj');
    context.global.setSync('cbCopy', new ivm.Callback(() => new ivm.ExternalCopy({ k: [1, 2] }).copyInto()));
    assert.equal(context.evalSync('JSON.stringify(cbCopy())', SHORT), '{"k":[1,2]}');
    context.global.setSync('refCopy', new ivm.Reference(() => new ivm.ExternalCopy({ k: [3] }).copyInto()));
    assert.equal(context.evalSync('JSON.stringify(refCopy.applySync())', SHORT), '{"k":[3]}');
    context.global.setSync('cbIso', new ivm.Callback(() => iref.derefInto()));
    assert.equal(context.evalSync('cbIso() === iobj', SHORT), true);
    context.global.setSync('refIso', new ivm.Reference(() => iref.derefInto()));
    assert.equal(context.evalSync('refIso.applySync() === iobj', SHORT), true);
  }));

  it('a derefInto() of a Node value returned by a host function throws in the isolate', T, () => withIsolate(({ context }) => {
    const o = { n: 5 };
    context.global.setSync('cbDeref', new ivm.Callback(() => new ivm.Reference(o).derefInto()));
    assert.throws(() => context.evalSync('cbDeref()', SHORT), DEREF_INTO_TARGET);
    context.global.setSync('refDeref', new ivm.Reference(() => new ivm.Reference(o).derefInto()));
    assert.throws(() => context.evalSync('refDeref.applySync()', SHORT), DEREF_INTO_TARGET);
  }));
});

describe('5. transfer options', () => {
  it('evalClosureSync with a non-transferable result throws TypeError "A non-transferable value was passed"', T, () => withIsolate(({ context }) => {
    for (const code of ['return { a: 1 }', 'return [1]', 'return new Date(0)', 'return Symbol("x")',
      'return Promise.resolve(1)', 'return { a: function () {} }']) {
      assert.throws(() => context.evalClosureSync(code), NON_TRANSFERABLE, code);
    }
  }));

  it('evalClosure (async) rejects the same way', T, () => withIsolate(async ({ context }) => {
    await assert.rejects(context.evalClosure('return { a: 1 }'), NON_TRANSFERABLE);
  }));

  it('evalSync, eval and runSync give undefined for a non-transferable result instead', T, () => withIsolate(async ({ isolate, context }) => {
    assert.equal(context.evalSync('({ a: 1 })'), undefined);
    assert.equal(context.evalSync('[1, 2]'), undefined);
    assert.equal(context.evalSync('Symbol("x")'), undefined);
    assert.equal(await context.eval('({ a: 1 })'), undefined);
    assert.equal(isolate.compileScriptSync('({})').runSync(context), undefined);
  }));

  it('applySync and getSync fall back to a Reference for a non-transferable result', T, () => withIsolate(({ context }) => {
    const sym = context.evalSync('(() => Symbol("x"))', { reference: true }).applySync();
    assert.ok(sym instanceof ivm.Reference);
    const obj = context.evalSync('(() => ({}))', { reference: true }).applySync();
    assert.ok(obj instanceof ivm.Reference);
    context.evalSync('globalThis.s = Symbol("x")');
    assert.ok(context.global.getSync('s') instanceof ivm.Reference);
  }));

  it('copy / externalCopy / reference result options, and bigint passing by default', T, () => withIsolate(({ context }) => {
    assert.deepEqual(context.evalClosureSync('return { a: 1 }', [], { result: { copy: true } }), { a: 1 });
    const ec = context.evalClosureSync('return { a: 1 }', [], { result: { externalCopy: true } });
    assert.ok(ec instanceof ivm.ExternalCopy);
    assert.deepEqual(ec.copy(), { a: 1 });
    assert.ok(context.evalClosureSync('return { a: 1 }', [], { result: { reference: true } }) instanceof ivm.Reference);
    assert.deepEqual(context.evalSync('[1, 2]', { copy: true }), [1, 2]);
    assert.equal(context.evalClosureSync('return 5n'), 5n);
  }));

  it('two of copy / externalCopy / reference together throw TypeError', T, () => withIsolate(({ context }) => {
    assert.throws(() => context.evalClosureSync('return 1', [], { result: { copy: true, reference: true } }),
      { name: 'TypeError', message: 'Only one of `copy`, `externalCopy`, or `reference` may be set' });
  }));

  it('non-transferable arguments throw unless an arguments option says how to pass them', T, () => withIsolate(({ context }) => {
    assert.throws(() => context.evalClosureSync('return $0', [{ a: 1 }]), NON_TRANSFERABLE);
    assert.throws(() => context.evalClosureSync('return $0', [Symbol('x')]), NON_TRANSFERABLE);
    assert.equal(context.evalClosureSync('return $0.a', [{ a: 1 }], { arguments: { copy: true } }), 1);
  }));

  it('evalSync with { promise: true } on a pending promise returns a promise that settles later', T, () => withIsolate(async ({ context }) => {
    const p = context.evalSync('new Promise(r => { globalThis.res1 = r })', { promise: true });
    assert.ok(p instanceof Promise);
    let settled = false;
    p.then(() => { settled = true; });
    await tick(20);
    assert.equal(settled, false);
    context.evalSync('res1(41 + 1)');
    assert.equal(await p, 42);
    // Without the option the pending promise is just a non-transferable value.
    assert.equal(context.evalSync('new Promise(() => {})'), undefined);
    // With the option a plain value comes wrapped in a resolved promise.
    assert.equal(await context.evalSync('7', { promise: true }), 7);
    assert.equal(await context.evalClosureSync('return Promise.resolve(3)', [], { result: { promise: true } }), 3);
  }));

  it('applySync with { result: { promise: true } } on a pending promise settles later; other result options apply to the value', T, () => withIsolate(async ({ context }) => {
    const fn = context.evalSync('(function () { return new Promise((res, rej) => { globalThis.res3 = res; globalThis.rej3 = rej }) })',
      { reference: true });
    const p1 = fn.applySync(undefined, [], { result: { promise: true } });
    assert.ok(p1 instanceof Promise);
    context.evalSync('res3({ deep: [1] })');
    const ref = await p1;
    assert.ok(ref instanceof ivm.Reference, 'an object resolves as a Reference by default');
    assert.equal(ref.typeof, 'object');
    const p2 = fn.applySync(undefined, [], { result: { promise: true, copy: true } });
    context.evalSync('res3({ deep: [1] })');
    assert.deepEqual(await p2, { deep: [1] });
    const p3 = fn.applySync(undefined, [], { result: { promise: true } });
    context.evalSync('rej3(new RangeError("nope"))');
    await assert.rejects(p3, { name: 'RangeError', message: 'nope' });
    const p4 = fn.applySync(undefined, [], { result: { promise: true } });
    context.evalSync('res3(function pf() { return 9 })');
    const pf = await p4;
    assert.equal(typeof pf, 'function');
    assert.equal(pf(), 9);
    // Without the option the pending promise comes back as a Reference.
    assert.ok(fn.applySync() instanceof ivm.Reference);
  }));

  it('inside an isolate, hostRef.applySync(..., { result: { promise: true } }) gives a promise of the host result', T, () => withIsolate(async ({ context }) => {
    context.global.setSync('ivm', ivm);
    context.global.setSync('hostAsync', new ivm.Reference(async (x) => { await tick(5); return x * 3; }));
    assert.equal(context.evalSync(
      'globalThis.pp = hostAsync.applySync(undefined, [5], { result: { promise: true } }); [pp instanceof Promise, typeof pp.then].join()',
      SHORT), 'true,function');
    assert.equal(await context.evalSync('pp', { promise: true }), 15);
    assert.equal(await context.eval('hostAsync.applySync(undefined, [6], { result: { promise: true } })', { promise: true, ...SHORT }), 18);
    // A host function that returns a plain value gives a resolved promise.
    context.global.setSync('hostSync', new ivm.Reference((x) => x + 1));
    assert.equal(await context.evalSync('hostSync.applySync(undefined, [1], { result: { promise: true } })', { promise: true, ...SHORT }), 2);
    // Without the option the host's promise arrives as a Reference.
    assert.equal(context.evalSync(
      'const q = hostAsync.applySync(undefined, [5]); [typeof q, q instanceof ivm.Reference, q.typeof].join()', SHORT),
    'object,true,object');
  }));

  it('inside an isolate, a host promise that rejects rejects the isolate\'s promise with its class and message', T, () => withIsolate(async ({ context }) => {
    context.global.setSync('hostReject', new ivm.Reference(async () => { await tick(5); throw new TypeError('host reject'); }));
    assert.equal(await context.evalSync(
      'hostReject.applySync(undefined, [], { result: { promise: true } }).then(() => "ok", e => e.constructor.name + ": " + e.message)',
      { promise: true, ...SHORT }), 'TypeError: host reject');
  }));
});
