'use strict';
// ivm.Context and ivm.Script: the three forms of eval, evalClosure and run,
// their options (timeout, TransferOptions, ScriptOrigin) and the order in
// which queued calls run.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');
const { fresh } = require('./support/helpers');

test('context.global is one Reference to the global object', () => {
  const { isolate, context } = fresh();
  assert.ok(context.global instanceof ivm.Reference);
  assert.equal(context.global, context.global);
  assert.equal(context.global.typeof, 'object');
  context.global.setSync('answer', 42);
  assert.equal(context.evalSync('answer'), 42);
  isolate.dispose();
});

test('eval returns transferable results and undefined for the rest', async () => {
  const { isolate, context } = fresh();
  assert.equal(context.evalSync('1 + 2'), 3);
  assert.equal(context.evalSync('"s" + 1'), 's1');
  assert.equal(context.evalSync('2n ** 70n'), 2n ** 70n);
  assert.equal(context.evalSync('null'), null);
  assert.equal(context.evalSync('({ a: 1 })'), undefined);
  assert.equal(await context.eval('6 * 7'), 42);
  assert.equal(context.evalIgnored('globalThis.late = 1'), undefined);
  isolate.dispose();
});

test('TransferOptions pick how a result leaves', async () => {
  const { isolate, context } = fresh();
  const code = '({ list: [1, 2], when: new Date(0), map: new Map([[1, "one"]]), bytes: new Uint8Array([7]) })';
  const copy = context.evalSync(code, { copy: true });
  assert.deepEqual(copy.list, [1, 2]);
  assert.ok(copy.when instanceof Date);
  assert.equal(copy.map.get(1), 'one');
  assert.deepEqual([...copy.bytes], [7]);
  const reference = context.evalSync(code, { reference: true });
  assert.ok(reference instanceof ivm.Reference);
  assert.deepEqual(reference.copySync().list, [1, 2]);
  const external = context.evalSync(code, { externalCopy: true });
  assert.ok(external instanceof ivm.ExternalCopy);
  assert.deepEqual(external.copy().list, [1, 2]);
  const settled = context.evalSync('Promise.resolve(5)', { promise: true });
  assert.ok(settled instanceof Promise, 'a sync call with `promise` gives a Promise, as in isolated-vm');
  assert.equal(await settled, 5);
  assert.deepEqual(await context.eval('Promise.resolve([5])', { promise: true, copy: true }), [5]);
  assert.throws(() => context.evalSync('1', { copy: true, reference: true }), TypeError);
  assert.throws(() => context.evalSync('({ f() {} })', { copy: true }), /could not be cloned/);
  isolate.dispose();
});

test('a value with no copy is a TransferError that is also a TypeError, with V8\'s message and ivm\'s code', () => {
  const { isolate, context } = fresh();
  const error = (() => {
    try {
      context.evalSync('({ list: [1, function f() {}] })', { copy: true });
    } catch (thrown) {
      return thrown;
    }
    assert.fail('copying a function did not throw');
  })();
  assert.ok(error instanceof ivm.TransferError && error instanceof TypeError && error instanceof ivm.IvmError);
  assert.equal(error.name, 'TypeError');
  assert.equal(error.code, 'ERR_IVM_TRANSFER');
  assert.equal(error.message, 'function f() {} could not be cloned.');
  // Node's own serializer's refusals are TransferErrors too.
  assert.throws(() => new ivm.ExternalCopy([new WeakMap()]), (e) => e instanceof ivm.TransferError && e.message === '#<WeakMap> could not be cloned.');
  // Other ivm errors are not TypeErrors, and no TypeError of JavaScript's is an IvmError.
  assert.ok(!(new ivm.TimeoutError('x') instanceof TypeError));
  assert.ok(!(new TypeError('x') instanceof ivm.IvmError));
  isolate.dispose();
});

test('errors thrown inside come out as the same kind of error', async () => {
  const { isolate, context } = fresh();
  assert.throws(() => context.evalSync('throw new RangeError("far")'), (e) => e instanceof RangeError && e.message === 'far');
  assert.throws(() => context.evalSync('null.x'), TypeError);
  assert.throws(() => context.evalSync('1 +'), SyntaxError);
  assert.throws(() => context.evalSync('throw 42'), (thrown) => thrown === 42);
  await assert.rejects(context.eval('throw "no"'), (thrown) => thrown === 'no');
  await assert.rejects(context.eval('undefinedName'), ReferenceError);
  assert.throws(
    () => context.evalSync('class Custom extends Error { constructor() { super("mine"); this.name = "Custom" } }; throw new Custom'),
    (e) => e instanceof Error && e.name === 'Custom' && e.message === 'mine',
  );
  assert.throws(
    () => context.evalSync('throw new Error("where")', { filename: 'file:///where.js' }),
    (e) => /file:\/\/\/where\.js:1/.test(e.stack),
  );
  isolate.dispose();
});

test('a timeout ends runaway code and the isolate stays usable', async () => {
  const { isolate, context } = fresh();
  assert.throws(() => context.evalSync('for (;;) {}', { timeout: 20 }), (error) => {
    assert.ok(error instanceof ivm.TimeoutError);
    assert.equal(error.message, 'Script execution timed out.');
    assert.equal(error.code, 'ERR_IVM_TIMEOUT');
    return true;
  });
  await assert.rejects(context.eval('for (;;) {}', { timeout: 20 }), { message: 'Script execution timed out.' });
  assert.equal(context.evalSync('1'), 1);
  isolate.dispose();
});

test('evalClosure passes $0, $1... and takes argument and result options', async () => {
  const { isolate, context } = fresh();
  assert.equal(context.evalClosureSync('return $0 + $1', [1, 2]), 3);
  assert.equal(
    context.evalClosureSync('return $0.list.length', [{ list: [1, 2, 3] }], { arguments: { copy: true } }),
    3,
  );
  assert.throws(() => context.evalClosureSync('return $0', [{ not: 'transferable' }]), {
    message: 'A non-transferable value was passed',
  });
  const result = context.evalClosureSync('return { a: $0 }', [1], { result: { copy: true } });
  assert.deepEqual(result, { a: 1 });
  const reference = context.evalClosureSync('return [$0]', [1], { result: { reference: true } });
  assert.deepEqual(reference.copySync(), [1]);
  assert.equal(await context.evalClosure('return $0 * 2', [21]), 42);
  context.evalClosureIgnored('globalThis.fromClosure = $0', ['set']);
  assert.equal(await context.eval('fromClosure'), 'set');
  const external = new ivm.ExternalCopy({ big: 'object' });
  assert.equal(context.evalClosureSync('return $0.big', [external.copyInto()]), 'object');
  assert.equal(context.evalClosureSync('return $0.big', [{ big: 'value' }], { arguments: { externalCopy: true } }), 'value');
  isolate.dispose();
});

test('functions passed in become callable host functions', () => {
  const { isolate, context } = fresh();
  const seen = [];
  assert.equal(context.evalClosureSync('return $0(20, 22)', [(a, b) => { seen.push([a, b]); return a + b; }]), 42);
  assert.deepEqual(seen, [[20, 22]]);
  isolate.dispose();
});

test('queued calls of every form run in the order they were made', async () => {
  const { isolate, context } = fresh();
  context.evalIgnored('globalThis.log = []');
  const pending = [];
  for (let i = 0; i < 20; i++) {
    if (i % 3 === 0) context.evalIgnored(`log.push(${i})`);
    else if (i % 3 === 1) pending.push(context.eval(`log.push(${i})`));
    else context.global.setIgnored(`k${i}`, i), context.evalIgnored(`log.push(k${i})`);
  }
  await Promise.all(pending);
  assert.deepEqual(await context.eval('log', { copy: true }), Array.from({ length: 20 }, (_, i) => i));
  assert.equal(context.evalSync('log.length'), 20, 'a sync call waits for the queued ones');
  isolate.dispose();
});

test('release lets go of the context', () => {
  const { isolate, context } = fresh();
  context.release();
  assert.throws(() => context.evalSync('1'), ivm.ReleasedError);
  isolate.dispose();
});

test('Script runs in any context of its isolate, in every form', async () => {
  const { isolate, context } = fresh();
  const other = isolate.createContextSync();
  const script = isolate.compileScriptSync('globalThis.runs = (globalThis.runs || 0) + 1');
  assert.equal(script.runSync(context), 1);
  assert.equal(await script.run(context), 2);
  script.runIgnored(other);
  assert.equal(await other.eval('runs'), 1);
  const object = isolate.compileScriptSync('({ a: [1] })');
  assert.equal(object.runSync(context), undefined);
  assert.deepEqual(object.runSync(context, { copy: true }), { a: [1] });
  assert.ok(object.runSync(context, { reference: true }) instanceof ivm.Reference);
  const spin = isolate.compileScriptSync('for (;;) {}');
  assert.throws(() => spin.runSync(context, { timeout: 10 }), ivm.TimeoutError);
  assert.throws(() => script.runSync({}), TypeError);
  const once = isolate.compileScriptSync('1');
  assert.equal(once.runSync(context, { release: true }), 1);
  assert.throws(() => once.runSync(context), ivm.ReleasedError);
  const foreign = new ivm.Isolate().createContextSync();
  assert.throws(() => script.runSync(foreign));
  isolate.dispose();
});
