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
  // A synchronous operation waits for the other isolate, from Node's thread
  // and from a pool worker (an async call) alike.
  assert.equal(user.evalSync('remote.getSync("data").getSync("n")'), 20);
  // A function comes out as a function (isolated-vm 4+) that calls into
  // the other isolate, or as a Reference when asked for one.
  assert.equal(user.evalSync('remote.getSync("add")(40, 2)'), 42);
  assert.equal(user.evalSync('remote.getSync("add", { reference: true }).applySync(undefined, [40, 2])'), 42);
  assert.equal(await user.eval('remote.getSync("data").getSync("n")'), 20);
  const many = Array.from({ length: 8 }, (_, i) => {
    const caller = new ivm.Isolate().createContextSync();
    caller.global.setSync('remote', owner.global);
    return caller.eval(`remote.getSync("add")(${i}, 1)`);
  });
  assert.deepEqual(await Promise.all(many), [1, 2, 3, 4, 5, 6, 7, 8]);
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

test('the library object passed in lets code inside make and drive isolates of its own', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  context.global.setSync('ivm', ivm);
  const results = context.evalSync(`
    const child = new ivm.Isolate({ memoryLimit: 16 });
    const inner = child.createContextSync();
    inner.evalClosureSync('globalThis.base = $0', [40]);
    const script = child.compileScriptSync('base + 2');
    const out = [inner.evalSync('base + 1'), script.runSync(inner), inner.evalSync('({})'),
      typeof child.cpuTime, child instanceof ivm.Isolate, inner instanceof ivm.Context];
    try { inner.evalSync('for (;;) {}', { timeout: 20 }) } catch (e) { out.push(e.message) }
    try { inner.evalSync('const a = []; for (;;) a.push(new Array(1e5).fill(1))') } catch (e) { out.push(e.message) }
    out.push(child.isDisposed);
    out
  `, { copy: true });
  assert.deepEqual(results, [
    41, 42, undefined, 'bigint', true, true,
    'Script execution timed out.',
    'Isolate was disposed during execution due to memory limit',
    true,
  ]);
  assert.equal(
    await context.eval('(async () => { const c = await new ivm.Isolate().createContext(); return c.eval("6 * 7") })()', { promise: true }),
    42,
  );
  isolate.dispose();
});

test('Isolates, Contexts and Scripts made in Node pass into an isolate and back', () => {
  const child = new ivm.Isolate();
  const childContext = child.createContextSync();
  const script = child.compileScriptSync('21 * 2');
  const parent = new ivm.Isolate().createContextSync();
  const result = parent.evalClosureSync('return [$0.evalSync("1 + 1"), $1.runSync($0), $2.isDisposed]', [childContext, script, child], {
    result: { copy: true },
  });
  assert.deepEqual(result, [2, 42, false]);
  const back = parent.evalClosureSync('return $0', [childContext], { result: { reference: true } });
  assert.ok(back instanceof ivm.Reference || back instanceof ivm.Context);
  const made = parent.evalClosureSync('return $0', [childContext]);
  assert.ok(made instanceof ivm.Context, 'a Context passed back out is the Context');
  assert.equal(made.evalSync('3'), 3);
});

test("a caller's timeout stops while it waits for another isolate's synchronous operation, as isolated-vm's does", () => {
  const busy = new ivm.Isolate().createContextSync();
  busy.evalSync('globalThis.slow = () => { const end = Date.now() + 300; while (Date.now() < end); return 1 }');
  const caller = new ivm.Isolate().createContextSync();
  caller.global.setSync('slow', busy.global.getSync('slow', { reference: true }));
  const after = '{ let n = 0; for (let i = 0; i < 1000; i++) n += i; n }';
  assert.equal(caller.evalSync(`slow.applySync(undefined, []); ${after}`, { timeout: 100 }), 499500);
  // The same function as a function (isolated-vm 4+): the caller waits for
  // the other isolate through Node, and its clock stops there too.
  caller.global.setSync('slowFunction', busy.global.getSync('slow'));
  assert.equal(caller.evalSync(`slowFunction(); ${after}`, { timeout: 100 }), 499500);
  // Its own running still counts: code that runs away after the wait ends
  // at the timeout, and the caller stays usable.
  const started = Date.now();
  assert.throws(() => caller.evalSync('slowFunction(); for (;;) {}', { timeout: 100 }), ivm.TimeoutError);
  assert.ok(Date.now() - started < 1500, `waited ${Date.now() - started} ms`);
  assert.equal(caller.evalSync('"still usable"'), 'still usable');
});

test('errors from child isolates and Node functions keep their class on the way out', async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  context.global.setSync('ivm', ivm);
  // A child isolate's timeout that the parent's code lets through is an
  // ivm.TimeoutError in Node, with isolated-vm's message.
  assert.throws(() => context.evalSync("new ivm.Isolate().createContextSync().evalSync('for (;;) {}', { timeout: 20 })"), (error) => {
    assert.ok(error instanceof ivm.TimeoutError, String(error));
    assert.equal(error.message, 'Script execution timed out.');
    return true;
  });
  // So is a timeout a Node function let through.
  const other = new ivm.Isolate().createContextSync();
  context.global.setSync('spin', new ivm.Callback(() => other.eval('for (;;) {}', { timeout: 20 }), { async: true }));
  await assert.rejects(context.eval('spin()', { promise: true }), ivm.TimeoutError);
  // A JavaScript exception of the child stays a JavaScript exception.
  assert.throws(() => context.evalSync("new ivm.Isolate().createContextSync().evalSync('null.x')"), (error) => {
    assert.ok(error instanceof TypeError && !(error instanceof ivm.IvmError), String(error));
    return true;
  });
  // Refusals of a Reference to a Node value are TypeErrors, as isolated-vm's.
  context.global.setSync('log', new ivm.Reference(function log() {}));
  assert.equal(context.evalSync("try { log.getSync('constructor') } catch (e) { e.name + ': ' + e.message }"),
    'TypeError: Reference is not an object');
});
