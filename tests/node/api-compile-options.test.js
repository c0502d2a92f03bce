'use strict';
// Compile and context options: isolated-vm's CachedDataOptions (V8's code
// cache out of and into compileScript and compileModule, as an
// ExternalCopy of an ArrayBuffer) and node:vm's `codeGeneration` controls
// on createContext.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');
const { fresh } = require('./support/helpers');

// Long enough that V8 has functions to cache.
const SOURCE = `
  function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
  const table = [1, 2, 3].map((x) => x * 10);
  fib(10) + table.length;
`;
const MODULE_SOURCE = 'export function twice(x) { return x * 2; }\nexport const answer = twice(21);\n';

// A code cache of `code`, made in an isolate of its own (an isolate that
// compiled a source already takes it from its own cache, whatever cache it
// is given).
function producedCache(code, compile = 'compileScriptSync') {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const compiled = isolate[compile](code, { produceCachedData: true });
  assert.ok(compiled.cachedData instanceof ivm.ExternalCopy);
  isolate.dispose();
  return compiled.cachedData;
}

test('produceCachedData gives the Script an ExternalCopy of an ArrayBuffer as cachedData', async () => {
  const { isolate, context } = fresh();
  const script = isolate.compileScriptSync(SOURCE, { produceCachedData: true });
  assert.ok(script.cachedData instanceof ivm.ExternalCopy);
  const bytes = script.cachedData.copy();
  assert.ok(bytes instanceof ArrayBuffer);
  assert.ok(bytes.byteLength > 0);
  assert.equal('cachedDataRejected' in script, false, 'only set when cachedData was given');
  assert.equal(script.runSync(context), 58);

  const later = await isolate.compileScript('const later = () => 1; later()', { produceCachedData: true });
  assert.ok(later.cachedData instanceof ivm.ExternalCopy);
  assert.ok(later.cachedData.copy().byteLength > 0);

  const plain = isolate.compileScriptSync(SOURCE);
  assert.equal('cachedData' in plain, false);
  assert.equal('cachedDataRejected' in plain, false);
  const off = isolate.compileScriptSync(SOURCE, { produceCachedData: false, cachedData: null });
  assert.deepEqual(Object.keys(off), []);
  isolate.dispose();
});

test('a cache is consumed by another isolate: cachedDataRejected is false and the script runs', async () => {
  const cache = producedCache(SOURCE);
  const { isolate, context } = fresh();
  const script = isolate.compileScriptSync(SOURCE, { cachedData: cache });
  assert.equal(script.cachedDataRejected, false);
  assert.equal('cachedData' in script, false, 'nothing produced unless asked');
  assert.equal(script.runSync(context), 58);
  isolate.dispose();

  // Saved as bytes (to disk, say) and made an ExternalCopy again.
  const saved = Buffer.from(cache.copy());
  const other = fresh();
  const restored = new ivm.ExternalCopy(saved.buffer.slice(saved.byteOffset, saved.byteOffset + saved.length));
  const again = await other.isolate.compileScript(SOURCE, { cachedData: restored, filename: 'file:///fib.js' });
  assert.equal(again.cachedDataRejected, false);
  assert.equal(await again.run(other.context), 58);
  other.isolate.dispose();
});

test('with both options a new cache is made only when the one given is rejected', () => {
  const cache = producedCache(SOURCE);
  const accepted = fresh();
  const kept = accepted.isolate.compileScriptSync(SOURCE, { cachedData: cache, produceCachedData: true });
  assert.equal(kept.cachedDataRejected, false);
  assert.equal('cachedData' in kept, false);
  accepted.isolate.dispose();

  const rejected = fresh();
  const other = 'const other = (x) => x + 1;\nother(41);';
  const remade = rejected.isolate.compileScriptSync(other, { cachedData: cache, produceCachedData: true });
  assert.equal(remade.cachedDataRejected, true);
  assert.ok(remade.cachedData instanceof ivm.ExternalCopy);
  assert.equal(remade.runSync(rejected.context), 42);
  rejected.isolate.dispose();

  // The new cache is good for that source.
  const third = fresh();
  assert.equal(third.isolate.compileScriptSync(other, { cachedData: remade.cachedData }).cachedDataRejected, false);
  third.isolate.dispose();
});

test('a cache of another source, or garbage, is rejected and the code compiles anyway', async () => {
  const cache = producedCache(SOURCE);
  const garbage = [new ArrayBuffer(0), new ArrayBuffer(16), new Uint8Array(4096).fill(0xa5).buffer];
  for (const data of [cache, ...garbage.map((bytes) => new ivm.ExternalCopy(bytes))]) {
    const { isolate, context } = fresh();
    const code = 'let fromOtherSource = 6 * 7; fromOtherSource';
    const script = isolate.compileScriptSync(code, { cachedData: data });
    assert.equal(script.cachedDataRejected, true);
    assert.equal(script.runSync(context), 42);
    if (data !== cache) {
      const same = await isolate.compileScript(SOURCE, { cachedData: data });
      assert.equal(same.cachedDataRejected, true, 'garbage is rejected for any source');
      assert.equal(same.runSync(context), 58);
    }
    isolate.dispose();
  }
});

test('modules produce and consume caches the same way', async () => {
  const cache = producedCache(MODULE_SOURCE, 'compileModuleSync');
  assert.ok(cache.copy().byteLength > 0);

  const { isolate, context } = fresh();
  const module = await isolate.compileModule(MODULE_SOURCE, { cachedData: cache, filename: 'file:///twice.js' });
  assert.ok(module instanceof ivm.Module);
  assert.equal(module.cachedDataRejected, false);
  assert.equal('cachedData' in module, false);
  module.instantiateSync(context, () => {
    throw new Error('no imports');
  });
  await module.evaluate();
  assert.equal(module.namespace.getSync('answer'), 42);

  const other = isolate.compileModuleSync('export const somethingElse = 1;', { cachedData: cache, produceCachedData: true });
  assert.equal(other.cachedDataRejected, true);
  assert.ok(other.cachedData instanceof ivm.ExternalCopy);
  const produced = await isolate.compileModule('export default 1;', { produceCachedData: true });
  assert.ok(produced.cachedData.copy().byteLength > 0);
  assert.equal('cachedDataRejected' in produced, false);

  isolate.dispose();

  // A script's cache is not a module's.
  const scriptCache = producedCache(MODULE_SOURCE.replace(/export /g, ''));
  const second = fresh();
  assert.equal(second.isolate.compileModuleSync(MODULE_SOURCE, { cachedData: scriptCache }).cachedDataRejected, true);
  second.isolate.dispose();
});

test('cachedData must be an ExternalCopy of an ArrayBuffer, produceCachedData a boolean', async () => {
  const { isolate, context } = fresh();
  const message = '`cachedData` must be an ExternalCopy to ArrayBuffer';
  const wrong = [
    Buffer.from('abc'),
    new ArrayBuffer(8),
    new Uint8Array(8),
    'bytes',
    42,
    {},
    new ivm.ExternalCopy(new Uint8Array(8)),
    new ivm.ExternalCopy({ bytes: new ArrayBuffer(8) }),
    new ivm.ExternalCopy('bytes'),
    new ivm.Reference(new ArrayBuffer(8)),
    Object.create(ivm.ExternalCopy.prototype),
  ];
  for (const cachedData of wrong) {
    assert.throws(() => isolate.compileScriptSync('1', { cachedData }), { name: 'TypeError', message });
    assert.throws(() => isolate.compileModuleSync('1', { cachedData }), { name: 'TypeError', message });
    await assert.rejects(isolate.compileScript('1', { cachedData }), { name: 'TypeError', message });
    await assert.rejects(isolate.compileModule('1', { cachedData }), { name: 'TypeError', message });
    assert.throws(() => context.evalSync('1', { cachedData }), { name: 'TypeError', message });
    assert.throws(() => context.evalClosureSync('return 1', [], { cachedData }), { name: 'TypeError', message });
  }
  for (const produceCachedData of ['yes', 1, {}]) {
    const expected = { name: 'TypeError', message: '`produceCachedData` must be a boolean' };
    assert.throws(() => isolate.compileScriptSync('1', { produceCachedData }), expected);
    await assert.rejects(isolate.compileModule('1', { produceCachedData }), expected);
  }
  const released = new ivm.ExternalCopy(new ArrayBuffer(8));
  released.release();
  assert.throws(() => isolate.compileScriptSync('1', { cachedData: released }), ivm.ReleasedError);
  isolate.dispose();
});

test('eval compiles with a script\'s cachedData, evalClosure takes CachedDataOptions as isolated-vm does, and neither makes a cache', async () => {
  const { isolate, context } = fresh();
  const cache = producedCache(SOURCE);
  assert.equal(context.evalSync(SOURCE, { cachedData: cache, produceCachedData: true }), 58);
  assert.equal(await context.eval('6 * 7', { cachedData: cache }), 42);
  assert.equal(context.evalClosureSync('return $0 + 1', [41], { produceCachedData: true, cachedData: cache }), 42);
  assert.equal(await context.evalClosure('return 2', [], { cachedData: null }), 2);
  await assert.rejects(context.eval('1', { cachedData: Buffer.from('x') }), TypeError);
  await assert.rejects(context.evalClosure('return 1', [], { cachedData: new ArrayBuffer(1) }), TypeError);
  isolate.dispose();
});

const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

// What an isolate's code sees when it generates code, from inside.
const PROBE = `
  const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.name; } };
  [
    attempt(() => eval('1 + 1')),
    attempt(() => new Function('return 1')),
    attempt(() => Object.getPrototypeOf(function* () {}).constructor('yield 1')),
    attempt(() => new WebAssembly.Module(wasm.copy())),
  ].join(' ')
`;

function probe(context) {
  context.evalSync(`globalThis.wasm = { copy: () => new Uint8Array(${JSON.stringify([...WASM])}) }`);
  return context.evalSync(PROBE);
}

test('by default a context may eval, make functions from strings and compile WebAssembly', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  for (const options of [undefined, {}, { codeGeneration: {} }, { codeGeneration: { strings: true, wasm: true } }]) {
    assert.equal(probe(isolate.createContextSync(options)), 'ok ok ok ok');
    assert.equal(probe(await isolate.createContext(options)), 'ok ok ok ok');
  }
  isolate.dispose();
});

test('codeGeneration.strings false: eval and function constructors throw EvalError', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  for (const context of [
    isolate.createContextSync({ codeGeneration: { strings: false } }),
    await isolate.createContext({ codeGeneration: { strings: false } }),
  ]) {
    assert.equal(probe(context), 'EvalError EvalError EvalError ok');
    // An EvalError reaches Node as isolated-vm passes errors of classes
    // other than its five: an Error named "EvalError".
    assert.throws(() => context.evalSync('eval("1")'), { name: 'EvalError' });
    assert.throws(() => context.evalSync('new Function("return 1")'), {
      name: 'EvalError',
      message: /Code generation from strings disallowed/,
    });
    // Code compiled from the host still runs, and so do compiled scripts.
    assert.equal(context.evalSync('[1, 2, 3].reduce((a, b) => a + b)'), 6);
    assert.equal(isolate.compileScriptSync('40 + 2').runSync(context), 42);
    assert.equal(context.evalClosureSync('return $0 * 2', [21]), 42);
  }
  // Other contexts of the isolate are not affected.
  assert.equal(probe(isolate.createContextSync()), 'ok ok ok ok');
  isolate.dispose();
});

test('codeGeneration.wasm false: compiling WebAssembly throws a WebAssembly.CompileError', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync({ codeGeneration: { wasm: false } });
  assert.equal(probe(context), 'ok ok ok CompileError');
  assert.equal(
    context.evalSync(`
      try { new WebAssembly.Module(wasm.copy()); 'compiled' }
      catch (e) { String(e instanceof WebAssembly.CompileError) }
    `),
    'true',
  );
  assert.throws(() => context.evalSync('new WebAssembly.Module(wasm.copy())'), { name: 'CompileError' });
  assert.equal(
    await context.eval('WebAssembly.compile(wasm.copy()).then(() => "compiled", (e) => e.name)', { promise: true }),
    'CompileError',
  );
  assert.equal(probe(isolate.createContextSync()), 'ok ok ok ok');

  const neither = await isolate.createContext({ codeGeneration: { strings: false, wasm: false } });
  assert.equal(probe(neither), 'EvalError EvalError EvalError CompileError');
  isolate.dispose();
});

test('codeGeneration is checked: an object of booleans', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32, inspector: true });
  const cases = [
    [{ codeGeneration: 'none' }, '`codeGeneration` must be an object'],
    [{ codeGeneration: false }, '`codeGeneration` must be an object'],
    [{ codeGeneration: { strings: 0 } }, '`codeGeneration.strings` must be a boolean'],
    [{ codeGeneration: { wasm: 'no' } }, '`codeGeneration.wasm` must be a boolean'],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => isolate.createContextSync(options), { name: 'TypeError', message });
    await assert.rejects(isolate.createContext(options), { name: 'TypeError', message });
  }
  // The inspector's options combine with it (api-inspector.test.js).
  const inspected = isolate.createContextSync({ inspector: true, name: 'x', codeGeneration: { strings: false } });
  assert.throws(() => inspected.evalSync('eval("1")'), { name: 'EvalError' });
  isolate.dispose();
  assert.throws(() => isolate.createContextSync({ codeGeneration: { strings: false } }), ivm.DisposedError);
  await assert.rejects(isolate.createContext({ codeGeneration: { wasm: false } }), ivm.DisposedError);
});

test('createContext with codeGeneration waits for a busy isolate without blocking Node', async () => {
  const { isolate, context } = fresh();
  const busy = context.eval('const end = Date.now() + 300; while (Date.now() < end); "done"');
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const made = await isolate.createContext({ codeGeneration: { strings: false } });
  clearInterval(timer);
  assert.ok(ticks > 0, 'Node ran its timers while the context waited for the isolate');
  assert.equal(await busy, 'done');
  assert.throws(() => made.evalSync('eval("1")'), { name: 'EvalError' });

  // Asked from a Node function that an async call of the isolate is
  // waiting on: the context is made once that call is done.
  const asked = [];
  context.global.setSync(
    'ask',
    new ivm.Callback(() => {
      asked.push(isolate.createContext({ codeGeneration: { wasm: false } }));
      return 1;
    }),
  );
  assert.equal(await context.eval('ask() + 1'), 2);
  const fromCallback = await asked[0];
  assert.equal(probe(fromCallback), 'ok ok ok CompileError');
  isolate.dispose();
});
