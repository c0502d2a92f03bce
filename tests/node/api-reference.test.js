'use strict';
// ivm.Reference: to values in isolates and to Node values, with every form
// of get, set, delete, apply and copy, and isolated-vm's rules for them.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');
const { eventually, fresh } = require('./support/helpers');

test('typeof is known at any time; released references fail with ReleasedError', () => {
  const { isolate, context } = fresh();
  const cases = { '({})': 'object', '[]': 'object', '(() => 1)': 'function', '1': 'number', '"s"': 'string', 'null': 'null' };
  for (const [code, expected] of Object.entries(cases)) {
    assert.equal(context.evalSync(code, { reference: true }).typeof, expected, code);
  }
  const reference = context.evalSync('({ a: 1 })', { reference: true });
  reference.release();
  assert.throws(() => reference.typeof, ivm.ReleasedError);
  assert.throws(() => reference.getSync('a'), { message: 'Reference has been released' });
  isolate.dispose();
});

test('get reads own data properties; getters, Proxies and inherited ones need accessors', async () => {
  const { isolate, context } = fresh();
  const object = context.evalSync(
    '({ plain: 1, nested: { x: 2 }, get computed() { return 3 }, __proto__: { inherited: 4 } })',
    { reference: true },
  );
  assert.equal(object.getSync('plain'), 1);
  assert.equal(await object.get('plain'), 1);
  assert.ok(object.getSync('nested') instanceof ivm.Reference, 'an object comes back as a Reference');
  assert.deepEqual(object.getSync('nested', { copy: true }), { x: 2 });
  assert.equal(object.getSync('missing'), undefined);
  assert.equal(object.getSync('inherited'), undefined, 'the prototype chain is ignored');
  assert.throws(() => object.getSync('computed'), /accessor/);
  assert.equal(object.getSync('computed', { accessors: true }), 3);
  assert.equal(object.getSync('inherited', { accessors: true }), 4);
  const proxy = context.evalSync('new Proxy({}, { get: () => "trapped" })', { reference: true });
  assert.throws(() => proxy.getSync('any'), /Proxy/);
  assert.equal(proxy.getSync('any', { accessors: true }), 'trapped');
  const list = context.evalSync('[10, 20]', { reference: true });
  assert.equal(list.getSync(1), 20);
  assert.equal(list.getSync('length'), 2);
  assert.throws(() => list.getSync({}), TypeError);
  isolate.dispose();
});

test('set and delete in every form', async () => {
  const { isolate, context } = fresh();
  const object = context.evalSync('globalThis.o = {}', { reference: true });
  // isolated-vm's set and delete give undefined.
  assert.equal(object.setSync('a', 1), undefined);
  assert.equal(await object.set('b', 'two'), undefined);
  object.setIgnored('c', 3n);
  assert.equal(await context.eval('o.a + o.b + o.c'), '1two3');
  object.setSync('d', { deep: [1] }, { copy: true });
  assert.equal(context.evalSync('o.d.deep[0]'), 1);
  assert.throws(() => object.setSync('e', { deep: 1 }), { message: 'A non-transferable value was passed' });
  assert.equal(object.deleteSync('a'), undefined);
  assert.equal(await object.delete('b'), undefined);
  object.deleteIgnored('c');
  assert.deepEqual(await context.eval('Object.keys(o)', { copy: true }), ['d']);
  isolate.dispose();
});

test('apply in every form, with receiver, arguments and result options', async () => {
  const { isolate, context } = fresh();
  const add = context.evalSync('(function (a, b) { return (this && this.base || 0) + a + b })', { reference: true });
  assert.equal(add.applySync(undefined, [1, 2]), 3);
  assert.equal(await add.apply(undefined, [3, 4]), 7);
  assert.equal(add.applySync(context.evalSync('({ base: 100 })', { reference: true }).derefInto(), [1, 2]), 103);
  const make = context.evalSync('(n) => ({ n })', { reference: true });
  assert.ok(make.applySync(undefined, [1]) instanceof ivm.Reference, 'non-transferable results are References');
  assert.deepEqual(make.applySync(undefined, [1], { result: { copy: true } }), { n: 1 });
  assert.deepEqual((await make.apply(undefined, [2], { result: { externalCopy: true } })).copy(), { n: 2 });
  const count = context.evalSync('globalThis.calls = 0; () => ++calls', { reference: true });
  count.applyIgnored(undefined, []);
  count.applyIgnored(undefined, []);
  assert.equal(await context.eval('calls'), 2);
  const later = context.evalSync('async (x) => x * 2', { reference: true });
  assert.equal(await later.apply(undefined, [21], { result: { promise: true } }), 42);
  assert.equal(await later.applySync(undefined, [4], { result: { promise: true } }), 8);
  const spin = context.evalSync('() => { for (;;) {} }', { reference: true });
  assert.throws(() => spin.applySync(undefined, [], { timeout: 10 }), ivm.TimeoutError);
  const copyArgument = context.evalSync('(o) => o.list.length', { reference: true });
  assert.equal(copyArgument.applySync(undefined, [{ list: [1, 2] }], { arguments: { copy: true } }), 2);
  assert.throws(() => add.applySyncPromise(undefined, [1, 2]), /non-default thread/);
  assert.throws(() => context.global.applySync(undefined, []), /not a function/);
  isolate.dispose();
});

test('copy, deref and derefInto', async () => {
  const { isolate, context } = fresh();
  const reference = context.evalSync('({ a: [1, { b: 2 }] })', { reference: true });
  assert.deepEqual(reference.copySync(), { a: [1, { b: 2 }] });
  assert.deepEqual(await reference.copy(), { a: [1, { b: 2 }] });
  assert.throws(() => reference.deref(), /Cannot dereference this from current isolate/);
  context.global.setSync('same', reference.derefInto());
  assert.equal(context.evalSync('same.a[1].b'), 2, 'derefInto passes the value itself');
  const other = new ivm.Isolate().createContextSync();
  assert.throws(() => other.global.setSync('x', reference.derefInto()), /Cannot dereference this into target isolate/);
  const once = context.evalSync('({})', { reference: true });
  context.global.setSync('o', once.derefInto({ release: true }));
  assert.throws(() => once.copySync(), ivm.ReleasedError);
  isolate.dispose();
});

test('a Reference to a Node value keeps its identity and works from Node', async () => {
  const target = { n: 1, add(x) { return this.n + x; } };
  const reference = new ivm.Reference(target);
  assert.equal(reference.typeof, 'object');
  assert.equal(reference.deref(), target, 'deref gives the very object');
  assert.equal(reference.getSync('n'), 1);
  reference.setSync('n', 5);
  assert.equal(target.n, 5);
  assert.equal(await reference.get('n'), 5);
  const fn = new ivm.Reference((a, b) => a * b);
  assert.equal(fn.typeof, 'function');
  assert.equal(fn.applySync(undefined, [6, 7]), 42);
  assert.equal(await fn.apply(undefined, [2, 3]), 6);
  assert.deepEqual(new ivm.Reference({ a: [1] }).copySync(), { a: [1] });
  // derefInto() of a Node value is refused where it is used, as a TypeError.
  const { isolate, context } = fresh();
  const marker = reference.derefInto();
  assert.throws(() => context.global.setSync('x', marker), {
    name: 'TypeError',
    message: 'Cannot dereference this into target isolate',
  });
  isolate.dispose();
});

test('a Reference to a Node value passed in is a Reference inside the isolate', async () => {
  const { isolate, context } = fresh();
  const calls = [];
  const host = { value: 'host', log: (...args) => { calls.push(args); return args.length; } };
  context.global.setSync('host', new ivm.Reference(host));
  assert.equal(context.evalSync('host.typeof'), 'object');
  assert.equal(context.evalSync('host.getSync("value")'), 'host');
  const log = new ivm.Reference(host.log);
  context.global.setSync('log', log);
  assert.equal(context.evalSync('log.applySync(undefined, [1, "two", { three: 3 }])'), 3);
  assert.deepEqual(calls.pop(), [1, 'two', { three: 3 }]);
  context.evalSync('log.applyIgnored(undefined, ["later"])');
  await eventually(() => calls.length === 1);
  assert.deepEqual(calls.pop(), ['later']);
  assert.equal(await context.eval('log.apply(undefined, [1, 2])', { promise: true }), 2);
  assert.equal(context.evalSync('host.setSync("value", "changed")'), true);
  assert.equal(host.value, 'changed');
  assert.throws(() => context.evalSync('log.applySync(undefined, [() => 1])'), /could not be cloned/);
  assert.throws(() => context.evalSync('new host.constructor()'), TypeError);
  isolate.dispose();
});

test('References in their own isolate: the log example of isolated-vm', async () => {
  const { isolate, context } = fresh();
  const lines = [];
  const jail = context.global;
  jail.setSync('global', jail.derefInto());
  context.evalClosureSync(
    'global.log = function(...args) { $0.applyIgnored(undefined, args, { arguments: { copy: true } }); }',
    [(...args) => lines.push(args.join(' '))],
    { arguments: { reference: true } },
  );
  context.evalSync('log("hello", "world")');
  await eventually(() => lines.length === 1);
  assert.deepEqual(lines, ['hello world']);
  await context.eval('log("from", "async")');
  await eventually(() => lines.length === 2);
  assert.deepEqual(lines, ['hello world', 'from async']);
  isolate.dispose();
});

test('applySyncPromise inside an isolate waits for a Node promise without blocking Node', async () => {
  const { isolate, context } = fresh();
  const slowDouble = new ivm.Reference(
    (x) => new Promise((resolve) => setTimeout(() => resolve(x * 2), 20)),
  );
  context.global.setSync('slowDouble', slowDouble);
  const ticks = [];
  const timer = setInterval(() => ticks.push(Date.now()), 2);
  const result = await context.eval('slowDouble.applySyncPromise(undefined, [21]) + 1');
  clearInterval(timer);
  assert.equal(result, 43, 'the isolate got the settled value synchronously');
  assert.ok(ticks.length >= 2, "Node's event loop ran while the isolate waited");
  assert.throws(
    () => context.evalSync('slowDouble.applySyncPromise(undefined, [1])'),
    /non-default thread/,
    "from Node's own thread it would wait on itself",
  );
  isolate.dispose();
});
