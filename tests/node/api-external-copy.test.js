'use strict';
// ivm.ExternalCopy: values held outside every isolate.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');

test('copies structured values and gives them back, into Node or an isolate', () => {
  const value = { list: [1, 'two', 3n], when: new Date(5), set: new Set([1]), re: /x/g, error: new RangeError('r') };
  value.self = value;
  const copy = new ivm.ExternalCopy(value);
  const back = copy.copy();
  assert.notEqual(back, value);
  assert.deepEqual(back.list, [1, 'two', 3n]);
  assert.equal(back.self, back, 'cycles survive');
  assert.ok(back.when instanceof Date && back.set.has(1) && back.re.flags === 'g');
  assert.ok(back.error instanceof RangeError);
  const context = new ivm.Isolate().createContextSync();
  context.global.setSync('v', copy.copyInto());
  assert.equal(context.evalSync('v.self === v && v.list[2] === 3n && v.when instanceof Date'), true);
  assert.throws(() => new ivm.ExternalCopy({ f() {} }), /could not be cloned/);
  for (const call of [() => copy.copy(5), () => copy.copyInto('release')]) {
    assert.throws(call, { name: 'TypeError', message: '`options` must be an object' });
  }
  assert.throws(() => new ivm.ExternalCopy(Symbol('s')));
});

test('primitives, ArrayBuffers and typed arrays', () => {
  assert.equal(new ivm.ExternalCopy(42).copy(), 42);
  assert.equal(new ivm.ExternalCopy('text').copy(), 'text');
  const bytes = new Uint8Array([1, 2, 3, 4]);
  const view = new Uint16Array(bytes.buffer, 2, 1);
  const copy = new ivm.ExternalCopy(view).copy();
  assert.ok(copy instanceof Uint16Array);
  assert.equal(copy.length, 1);
  assert.equal(copy[0], view[0]);
  const buffer = new ArrayBuffer(16);
  new Uint8Array(buffer)[3] = 9;
  const out = new ivm.ExternalCopy(buffer).copy();
  assert.ok(out instanceof ArrayBuffer);
  assert.equal(new Uint8Array(out)[3], 9);
  assert.equal(buffer.byteLength, 16, 'a plain copy leaves the original alone');
  const nodeBuffer = new ivm.ExternalCopy(Buffer.from('hey')).copy();
  assert.equal(Buffer.from(nodeBuffer).toString(), 'hey');
});

test('transferOut and transferList detach the originals', () => {
  const buffer = new ArrayBuffer(1024);
  new Uint8Array(buffer)[0] = 7;
  const moved = new ivm.ExternalCopy(buffer, { transferOut: true });
  assert.equal(buffer.byteLength, 0, 'detached');
  assert.equal(new Uint8Array(moved.copy())[0], 7);
  const listed = new ArrayBuffer(8);
  const holder = new ivm.ExternalCopy({ listed }, { transferList: [listed] });
  assert.equal(listed.byteLength, 0);
  assert.equal(holder.copy().listed.byteLength, 8);
  assert.throws(() => new ivm.ExternalCopy({ a: 1 }, { transferOut: true }), TypeError);
});

test('copy and copyInto options: release and transferIn', () => {
  const copy = new ivm.ExternalCopy({ a: 1 });
  assert.deepEqual(copy.copy({ release: true }), { a: 1 });
  assert.throws(() => copy.copy(), ivm.ReleasedError);
  const moving = new ivm.ExternalCopy(new ArrayBuffer(32));
  const context = new ivm.Isolate().createContextSync();
  context.global.setSync('b', moving.copyInto({ transferIn: true }));
  assert.equal(context.evalSync('b.byteLength'), 32);
  assert.throws(() => moving.copy(), ivm.ReleasedError, 'transferIn releases the copy');
});

test('totalExternalSize follows the copies that are alive', () => {
  const before = ivm.ExternalCopy.totalExternalSize;
  const copy = new ivm.ExternalCopy(new ArrayBuffer(1 << 20));
  assert.ok(ivm.ExternalCopy.totalExternalSize >= before + (1 << 20));
  copy.release();
  assert.ok(ivm.ExternalCopy.totalExternalSize < before + (1 << 20));
});

test('results leave an isolate as ExternalCopies on request', async () => {
  const context = new ivm.Isolate().createContextSync();
  const copy = await context.eval('({ made: "inside" })', { externalCopy: true });
  assert.ok(copy instanceof ivm.ExternalCopy);
  assert.deepEqual(copy.copy(), { made: 'inside' });
  const other = new ivm.Isolate().createContextSync();
  assert.equal(other.evalClosureSync('return $0.made', [copy.copyInto()]), 'inside');
});

test('an ExternalCopy passed as itself is an ExternalCopy inside the isolate', () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const copy = new ivm.ExternalCopy({ shared: [1, 2, 3] });
  context.global.setSync('held', copy);
  assert.equal(context.evalSync('typeof held.copy'), 'function');
  assert.equal(context.evalSync('held.copy().shared.length'), 3);
  assert.equal(context.evalSync('held.copy() !== held.copy()'), true, 'each copy() is a new copy');
  assert.deepEqual(context.evalSync('held.copyInto()'), { shared: [1, 2, 3] }, 'copyInto() leaves as the copy');
  const back = context.evalSync('held');
  assert.ok(back instanceof ivm.ExternalCopy, 'and leaves as the same ExternalCopy');
  assert.deepEqual(back.copy(), { shared: [1, 2, 3] });
  context.evalSync('held.release()');
  assert.throws(() => context.evalSync('held.copy()'), /released/);
  assert.deepEqual(copy.copy(), { shared: [1, 2, 3] }, "releasing inside lets go of the isolate's handle only");
  isolate.dispose();
});
