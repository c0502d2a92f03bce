'use strict';
// ivm.IsolatePool, ivm's own addition (isolated-vm has no pool): isolates
// booted ahead of time, each with a context, over ivm-core's IsolatePool.
// A checkout is an ivm.PooledIsolate with the addon's usual Isolate and
// Context; releasing it hands it back to be disposed and replaced, never
// reused.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const ivm = require('../../bindings/node');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// Resolves once `check` holds, or fails after `ms` (booting isolates in a
// debug build on a busy machine is slow).
async function eventually(check, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('a checkout is a ready isolate and context that run code', async () => {
  const pool = new ivm.IsolatePool({ size: 2, memoryLimit: 16 });
  assert.equal(pool.size, 2);
  assert.equal(pool.ready, 2);
  const checkout = pool.checkoutSync();
  assert.ok(checkout instanceof ivm.PooledIsolate);
  const { isolate, context } = checkout;
  assert.ok(isolate instanceof ivm.Isolate);
  assert.ok(context instanceof ivm.Context);
  assert.equal(checkout.isolate, isolate);
  assert.equal(checkout.context, context);
  assert.equal(checkout.isReleased, false);

  assert.equal(context.evalSync('6 * 7'), 42);
  assert.equal(await context.eval('Promise.resolve(5)', { promise: true }), 5);
  assert.equal(isolate.compileScriptSync('typeof globalThis').runSync(context), 'object');
  context.global.setSync('double', new ivm.Callback((x) => 2 * x));
  assert.equal(context.evalSync('double(21)'), 42);
  // More contexts can be made in a pooled isolate, as in any.
  assert.equal(isolate.createContextSync().evalSync('1 + 1'), 2);

  // Releasing hands it back; again does nothing. The pool disposes it on
  // its own thread, after which calls fail as on any disposed isolate.
  checkout.release();
  checkout.release();
  assert.equal(checkout.isReleased, true);
  await eventually(() => isolate.isDisposed);
  assert.throws(() => context.evalSync('1'), ivm.DisposedError);
  checkout.release();

  // The async form.
  const next = await pool.checkout();
  assert.ok(next instanceof ivm.PooledIsolate);
  assert.equal(await next.context.eval('"async"'), 'async');
  next.release();
});

test('no state reaches the next checkout', async () => {
  const pool = new ivm.IsolatePool({ size: 1 });
  const seen = new Set();
  for (let i = 0; i < 8; i++) {
    const checkout = i % 2 ? await pool.checkout() : pool.checkoutSync();
    const { isolate, context } = checkout;
    assert.ok(!seen.has(isolate));
    seen.add(isolate);
    assert.equal(context.evalSync('typeof leaked + ({}).polluted + typeof [].push'), 'undefinedundefinedfunction');
    context.evalSync(`globalThis.leaked = ${i}; Object.prototype.polluted = true; Array.prototype.push = null`);
    assert.equal(isolate.createContextSync().evalSync('typeof leaked'), 'undefined');
    checkout.release();
  }
});

test('a pool booted from a snapshot hands out its globals, fresh each time', async () => {
  const snapshot = ivm.Isolate.createSnapshot([
    { code: 'var counter = 41; function work(x) { return counter++ + x; } globalThis.table = { a: [1, 2] };' },
  ]);
  const pool = new ivm.IsolatePool({ size: 2, snapshot, memoryLimit: 32 });
  for (let i = 0; i < 4; i++) {
    const checkout = await pool.checkout();
    assert.equal(checkout.context.evalSync('work(1) + table.a.length'), 44);
    assert.equal(checkout.context.evalSync('counter'), 42);
    checkout.context.evalSync('table.a.push(3)');
    checkout.release();
  }
});

test('released isolates are replaced, and the pool refills to its size', async () => {
  const pool = new ivm.IsolatePool({ size: 3 });
  const out = [pool.checkoutSync(), pool.checkoutSync(), pool.checkoutSync(), pool.checkoutSync()];
  assert.equal(new Set(out.map((c) => c.isolate)).size, 4);
  assert.ok(pool.ready <= 3);
  // Replacements are booted while checkouts are out...
  await eventually(() => pool.ready === 3);
  assert.ok(out.every((c) => !c.isolate.isDisposed));
  // ...and released ones disposed.
  for (const checkout of out) checkout.release();
  await eventually(() => out.every((c) => c.isolate.isDisposed));
  await eventually(() => pool.ready === 3);
  assert.equal(pool.size, 3);
});

test('bad options throw', () => {
  for (const options of [undefined, {}, { size: '2' }, { size: null }]) {
    assert.throws(() => new ivm.IsolatePool(options), { name: 'TypeError', message: '`size` must be a number' });
  }
  for (const size of [0, -1, 1.5, NaN, Infinity, 2 ** 32]) {
    assert.throws(() => new ivm.IsolatePool({ size }), {
      name: 'RangeError',
      message: new RegExp(`^\`size\` must be a whole number from 1 to 4294967295, not ${size}$`),
    });
  }
  assert.throws(() => new ivm.IsolatePool({ size: 1, memoryLimit: -1 }), RangeError);
  assert.throws(() => new ivm.IsolatePool({ size: 1, memoryLimit: '8' }), TypeError);
  // The snapshot option is read as `new ivm.Isolate({ snapshot })` reads it.
  assert.throws(() => new ivm.IsolatePool({ size: 1, snapshot: new ArrayBuffer(8) }), TypeError);
  assert.throws(() => new ivm.IsolatePool({ size: 1, snapshot: new ivm.ExternalCopy('no') }), TypeError);
  const garbage = new ivm.ExternalCopy(new Uint8Array(64).fill(7).buffer);
  assert.throws(() => new ivm.IsolatePool({ size: 2, snapshot: garbage }), {
    name: 'Error',
    code: 'ERR_IVM_USAGE',
    message: /not a usable snapshot/,
  });
});

test('many checkouts in a loop, one after another and all at once', async () => {
  const pool = new ivm.IsolatePool({ size: 2, memoryLimit: 16 });
  for (let i = 0; i < 40; i++) {
    const checkout = pool.checkoutSync();
    assert.equal(checkout.context.evalSync(`${i} + 1`), i + 1);
    checkout.release();
  }
  // More waiting checkouts than the pool's size: each is served, in order,
  // as isolates are booted, without blocking Node's thread.
  const checkouts = await Promise.all(Array.from({ length: 24 }, () => pool.checkout()));
  assert.equal(new Set(checkouts.map((c) => c.isolate)).size, 24);
  const results = await Promise.all(checkouts.map((c, i) => c.context.eval(`${i} * 2`)));
  assert.deepEqual(results, Array.from({ length: 24 }, (_, i) => i * 2));
  for (const checkout of checkouts) checkout.release();
  await eventually(() => pool.ready === 2);
});

test('an unreleased checkout is handed back when garbage collected', async () => {
  const pool = new ivm.IsolatePool({ size: 1 });
  let kept;
  // The checkout stays while its isolate or context does.
  (() => {
    const { context } = pool.checkoutSync();
    kept = context;
  })();
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  assert.equal(kept.evalSync('"alive"'), 'alive');

  // Dropped entirely, it is disposed; a Reference into it (which keeps
  // neither alive) then fails.
  const reference = kept.global;
  kept = undefined;
  await eventually(() => {
    gc();
    try {
      reference.getSync('Object');
      return false;
    } catch (error) {
      assert.ok(error instanceof ivm.DisposedError, String(error));
      return true;
    }
  });
});
