'use strict';
// ivm.Callback: Node functions that isolates call, synchronously, with a
// promise, or fire-and-forget; and the sync-call rules.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');
const { eventually, fresh } = require('./support/helpers');

test('a sync Callback returns its value to the isolate, from sync and async calls', async () => {
  const { isolate, context } = fresh();
  context.global.setSync('mul', new ivm.Callback((a, b) => a * b));
  assert.equal(context.evalSync('mul(6, 7)'), 42);
  assert.equal(await context.eval('mul(2, 3)'), 6, 'from the pool, the call runs on Node\'s thread');
  context.global.setSync('shape', new ivm.Callback(() => ({ list: [1, 2], when: new Date(0) })));
  assert.equal(context.evalSync('const s = shape(); s.list.length + s.when.getTime()'), 2);
  isolate.dispose();
});

test('arguments arrive as copies and errors cross both ways', () => {
  const { isolate, context } = fresh();
  let received;
  context.global.setSync('take', new ivm.Callback((value) => { received = value; }));
  context.evalSync('take({ nested: [1, { deep: true }], big: 10n ** 20n })');
  assert.deepEqual(received, { nested: [1, { deep: true }], big: 10n ** 20n });
  context.global.setSync('fail', new ivm.Callback(() => { throw new TypeError('host says no'); }));
  assert.equal(context.evalSync('try { fail(); "not thrown" } catch (e) { e.message }'), 'host says no');
  assert.throws(() => context.evalSync('fail()'), { message: 'host says no' });
  assert.throws(() => context.evalSync('take(() => 1)'), /could not be cloned/);
  isolate.dispose();
});

test('an async Callback gives the isolate a promise', async () => {
  const { isolate, context } = fresh();
  const slow = new ivm.Callback(async (x) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return x + 1;
  }, { async: true });
  context.global.setSync('slow', slow);
  assert.equal(context.evalSync('slow(1) instanceof Promise'), true);
  assert.equal(await context.eval('slow(41)', { promise: true }), 42);
  context.global.setSync('reject', new ivm.Callback(async () => { throw new Error('later no'); }, { async: true }));
  await assert.rejects(context.eval('reject()', { promise: true }), { message: 'later no' });
  assert.equal(
    await context.eval('(async () => { try { await reject() } catch (e) { return e.message } })()', { promise: true }),
    'later no',
  );
  isolate.dispose();
});

test('an ignored Callback returns undefined at once and runs later', async () => {
  const { isolate, context } = fresh();
  const seen = [];
  context.global.setSync('note', new ivm.Callback((x) => seen.push(x), { ignored: true }));
  assert.equal(context.evalSync('note("a")'), undefined);
  await eventually(() => seen.length === 1);
  assert.deepEqual(seen, ['a']);
  assert.throws(() => new ivm.Callback(() => {}, { async: true, ignored: true }), TypeError);
  assert.throws(() => new ivm.Callback('not a function'), TypeError);
  isolate.dispose();
});

test('sync-call rules: re-entering the same isolate works, another isolate is refused', async () => {
  const { isolate, context } = fresh();
  const other = new ivm.Isolate().createContextSync();
  context.global.setSync('reenter', new ivm.Callback(() => context.evalSync('1 + 1')));
  assert.equal(context.evalSync('reenter()'), 2);
  context.global.setSync('cross', new ivm.Callback(() => other.evalSync('3')));
  assert.throws(() => context.evalSync('cross()'), /synchronous call into an isolate/);
  context.global.setSync('crossAsync', new ivm.Callback(() => { other.evalIgnored('globalThis.touched = true'); return 'queued'; }));
  assert.equal(context.evalSync('crossAsync()'), 'queued');
  assert.equal(await other.eval('touched'), true);
  isolate.dispose();
});

test('a sync call queued behind an async call that calls into Node does not deadlock', async () => {
  // In a child process, so that a deadlock fails the test instead of
  // hanging the suite.
  const { execFile } = require('node:child_process');
  const script = `
    const ivm = require(${JSON.stringify(require.resolve('../../bindings/node'))});
    const context = new ivm.Isolate().createContextSync();
    const calls = [];
    context.global.setSync('note', new ivm.Callback((x) => { calls.push(x); return x * 2; }));
    const running = context.eval('let s = 0; for (let i = 0; i < 3e6; i++) s += i; note(21)');
    // Node's thread now waits for the isolate, whose queued call needs Node's thread.
    const after = context.evalSync('"after"');
    running.then((value) => console.log(JSON.stringify({ after, value, calls })));
  `;
  const output = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  assert.deepEqual(JSON.parse(output), { after: 'after', value: 42, calls: [21] });
});

test('a sync call from a Callback into the isolate whose async call waits for it fails instead of hanging', async () => {
  // In a child process, so that a deadlock fails the test instead of
  // hanging the suite.
  const { execFile } = require('node:child_process');
  const script = `
    const ivm = require(${JSON.stringify(require.resolve('../../bindings/node'))});
    const context = new ivm.Isolate().createContextSync();
    const seen = [];
    context.global.setSync('inner', new ivm.Callback(() => {
      try { return context.evalSync('1 + 1'); } catch (error) { seen.push(error.constructor.name + ': ' + error.message); return -1; }
    }));
    const host = new ivm.Reference(
      { get value() { try { return context.evalSync('2'); } catch (error) { seen.push('reference'); return -2; } } },
      { accessors: true },
    );
    context.global.setSync('host', host);
    Promise.all([context.eval('inner()'), context.eval('host.getSync("value")')]).then(
      (values) => console.log(JSON.stringify({ values, seen })),
      (error) => console.log(JSON.stringify({ error: error.message })),
    );
  `;
  const output = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  const { values, seen } = JSON.parse(output);
  assert.deepEqual(values, [-1, -2]);
  assert.match(seen[0], /^UsageError: A synchronous call into an isolate cannot be made/);
  assert.equal(seen[1], 'reference');
});
