'use strict';
// ivm.Isolate: options, contexts, scripts, statistics, time accounting,
// disposal — as isolated-vm 7 has them.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');

test('createContextSync and createContext make working contexts', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 16 });
  const sync = isolate.createContextSync();
  const async = await isolate.createContext();
  assert.ok(sync instanceof ivm.Context);
  assert.ok(async instanceof ivm.Context);
  sync.evalSync('globalThis.x = 1');
  assert.equal(async.evalSync('typeof x'), 'undefined', 'contexts have separate globals');
  isolate.dispose();
});

test('the isolate takes no options at all, and rejects bad ones', () => {
  const isolate = new ivm.Isolate();
  assert.equal(isolate.createContextSync().evalSync('6 * 7'), 42);
  isolate.dispose();
  assert.throws(() => new ivm.Isolate({ memoryLimit: -1 }), RangeError);
  assert.throws(() => new ivm.Isolate({ memoryLimit: 'a lot' }), TypeError);
});

test('a snapshot option that is not a snapshot fails clearly', () => {
  // Snapshots are there (api-snapshot.test.js); bytes that are not one
  // are refused.
  assert.throws(() => new ivm.Isolate({ snapshot: new ivm.ExternalCopy(new ArrayBuffer(8)) }), ivm.UsageError);
});

test('compileScriptSync and compileScript give Scripts with their origin in stack traces', async () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const script = isolate.compileScriptSync('function f() { throw new Error("here") }\nf()', {
    filename: 'file:///sandbox.js',
    lineOffset: 10,
  });
  assert.ok(script instanceof ivm.Script);
  assert.throws(() => script.runSync(context), (error) => {
    assert.equal(error.message, 'here');
    assert.match(error.stack, /file:\/\/\/sandbox\.js:11/);
    return true;
  });
  const later = await isolate.compileScript('40 + 2');
  assert.equal(await later.run(context), 42);
  assert.throws(() => isolate.compileScriptSync('1 +'), SyntaxError);
  await assert.rejects(isolate.compileScript('let let'), SyntaxError);
  assert.throws(() => isolate.compileScriptSync(42), TypeError);
  isolate.dispose();
});

test('getHeapStatistics reports V8 heap figures and external memory', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  const before = isolate.getHeapStatisticsSync();
  for (const key of ['total_heap_size', 'used_heap_size', 'heap_size_limit', 'externally_allocated_size']) {
    assert.equal(typeof before[key], 'number', key);
  }
  context.evalSync('globalThis.keep = new ArrayBuffer(8 << 20)');
  const after = await isolate.getHeapStatistics();
  assert.ok(after.externally_allocated_size >= 8 << 20, `external ${after.externally_allocated_size}`);
  assert.ok(after.heap_size_limit >= 32 << 20);
  isolate.dispose();
});

test('cpuTime and wallTime are bigint nanoseconds that grow with work', () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  assert.equal(typeof isolate.cpuTime, 'bigint');
  assert.equal(typeof isolate.wallTime, 'bigint');
  const cpu = isolate.cpuTime;
  const wall = isolate.wallTime;
  context.evalSync('let s = 0; for (let i = 0; i < 2e7; i++) s += i; s');
  assert.ok(isolate.cpuTime - cpu > 1_000_000n, 'at least a millisecond of CPU');
  assert.ok(isolate.wallTime - wall >= isolate.cpuTime - cpu - 1_000_000n);
  isolate.dispose();
});

test('referenceCount counts live handles into the isolate', () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const base = isolate.referenceCount;
  const reference = context.evalSync('[]', { reference: true });
  assert.equal(isolate.referenceCount, base + 1);
  reference.release();
  assert.equal(isolate.referenceCount, base);
  isolate.dispose();
});

test('dispose ends the isolate; every later use fails with DisposedError', async () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const reference = context.evalSync('({})', { reference: true });
  assert.equal(isolate.isDisposed, false);
  isolate.dispose();
  assert.equal(isolate.isDisposed, true);
  assert.throws(() => context.evalSync('1'), ivm.DisposedError);
  assert.throws(() => isolate.createContextSync(), { message: 'Isolated is disposed' });
  await assert.rejects(context.eval('1'), ivm.DisposedError);
  assert.throws(() => reference.copySync(), ivm.DisposedError);
  assert.throws(() => isolate.dispose(), ivm.DisposedError);
});

test('onCatastrophicError is accepted as a function', () => {
  const isolate = new ivm.Isolate({ onCatastrophicError: () => {} });
  assert.equal(isolate.createContextSync().evalSync('1'), 1);
  isolate.dispose();
});
