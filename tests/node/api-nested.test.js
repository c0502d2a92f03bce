'use strict';
// References between isolates: a Reference passed into another isolate is
// a Reference there, usable with isolated-vm's methods.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');

test('a Reference into one isolate, used from a second one', async () => {
  const owner = new ivm.Isolate().createContextSync();
  owner.evalSync('globalThis.data = { n: 20 }; globalThis.add = (a, b) => a + b');
  const user = new ivm.Isolate().createContextSync();
  user.global.setSync('remote', owner.global);
  assert.equal(user.evalSync('remote.typeof'), 'object');
  assert.equal(await user.eval('remote.get("add").then((add) => add.apply(undefined, [20, 22]))', { promise: true }), 42);
  assert.equal(
    await user.eval('remote.get("data").then((data) => data.get("n"))', { promise: true }),
    20,
  );
  assert.deepEqual(await user.eval('remote.get("data").then((d) => d.copy())', { promise: true, copy: true }), { n: 20 });
  await user.eval('remote.set("fromUser", "hello")', { promise: true });
  assert.equal(owner.evalSync('fromUser'), 'hello');
  assert.throws(() => user.evalSync('remote.getSync("data")'), /synchronous call into an isolate/);
  assert.throws(() => user.evalSync('remote.deref()'), /Cannot dereference/);
  assert.throws(() => user.evalSync('new (Object.getPrototypeOf(remote).constructor)()'), TypeError);
});

test('a Reference handed on to a third isolate', async () => {
  const a = new ivm.Isolate().createContextSync();
  a.evalSync('globalThis.secret = 7');
  const b = new ivm.Isolate().createContextSync();
  const c = new ivm.Isolate().createContextSync();
  const forward = new ivm.Callback((ref) => ref, {});
  b.global.setSync('a', a.global);
  c.global.setSync('fromB', b.evalSync('a', { reference: true }));
  assert.equal(await c.eval('fromB.get("secret")', { promise: true }), 7);
  assert.equal(typeof forward, 'object');
});

test('release inside the isolate lets go of the remote value', () => {
  const owner = new ivm.Isolate();
  const ownerContext = owner.createContextSync();
  const user = new ivm.Isolate().createContextSync();
  const before = owner.referenceCount;
  user.global.setSync('remote', ownerContext.evalSync('({})', { reference: true }));
  assert.equal(user.evalSync('remote.release(); "released"'), 'released');
  assert.throws(() => user.evalSync('remote.typeof'), /released/);
  assert.ok(owner.referenceCount >= before);
});
