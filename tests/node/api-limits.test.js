'use strict';
// Hostile code: memory limits (Node survives), timeouts, and disposal while
// calls run or race each other.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');

test('hostile memory use ends the isolate, not Node', async () => {
  const hogs = [
    'const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random()))',
    'const keep = []; for (;;) keep.push(new Uint8Array(4 << 20).fill(1))',
    'const keep = []; for (let i = 0; ; i++) keep.push("x".repeat(1 << 20) + i)',
  ];
  for (const code of hogs) {
    const isolate = new ivm.Isolate({ memoryLimit: 16 });
    const context = isolate.createContextSync();
    assert.throws(() => context.evalSync(code), (error) => {
      assert.ok(error instanceof ivm.MemoryLimitError, `${code}: ${error}`);
      assert.equal(error.message, 'Isolate was disposed during execution due to memory limit');
      return true;
    });
    assert.equal(isolate.isDisposed, true);
  }
  const isolate = new ivm.Isolate({ memoryLimit: 16 });
  const context = isolate.createContextSync();
  await assert.rejects(context.eval('const keep = []; for (;;) keep.push({ a: [1, 2, 3] })'), ivm.MemoryLimitError);
  assert.equal(JSON.parse(JSON.stringify({ node: 'fine' })).node, 'fine');
});

test("V8's fatal errors end the call with the memory-limit error, sync and async, and the handler hears of them", async () => {
  const fatal = "'z'.repeat(2 ** 28).split('')";
  const reports = [];
  const isolate = new ivm.Isolate({ memoryLimit: 32, onCatastrophicError: (message) => reports.push(message) });
  assert.throws(() => isolate.createContextSync().evalSync(fatal), ivm.MemoryLimitError);
  assert.equal(isolate.isDisposed, true);
  const other = new ivm.Isolate({ memoryLimit: 32 });
  const context = other.createContextSync();
  const lost = context.eval(fatal);
  const queued = context.eval('1');
  await assert.rejects(lost, ivm.MemoryLimitError);
  await assert.rejects(queued);
  assert.equal(other.isDisposed, true);
  // The report reaches the handler on Node's thread, after the call.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reports.length, 1);
  assert.match(reports[0], /V8 fatal error|V8 ran out of memory/);
  assert.equal(new ivm.Isolate().createContextSync().evalSync('6 * 7'), 42);
});

test('a timeout covers the wait for a followed promise', async () => {
  const context = new ivm.Isolate().createContextSync();
  context.global.setSync('never', new ivm.Callback(() => new Promise(() => {}), { async: true }));
  await assert.rejects(context.eval('never()', { promise: true, timeout: 50 }), ivm.TimeoutError);
  assert.equal(context.evalSync('"alive"'), 'alive');
});

test('dispose during a running async call ends that call', async () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const running = context.eval('for (;;) {}');
  const queued = context.eval('1');
  await new Promise((resolve) => setTimeout(resolve, 30));
  isolate.dispose();
  await assert.rejects(running, (error) => error instanceof ivm.DisposedError && /disposed during execution/.test(error.message));
  await assert.rejects(queued, ivm.DisposedError);
});

test('disposing isolates while others keep working', async () => {
  const isolates = Array.from({ length: 8 }, () => new ivm.Isolate({ memoryLimit: 16 }));
  const contexts = isolates.map((isolate) => isolate.createContextSync());
  const work = contexts.map((context, i) =>
    context.eval(`let s = 0; for (let i = 0; i < ${(i + 1) * 2e5}; i++) s += i; s`).then(
      (value) => ({ ok: value }),
      (error) => ({ error }),
    ),
  );
  for (let i = 0; i < isolates.length; i += 2) isolates[i].dispose();
  const results = await Promise.all(work);
  results.forEach((result, i) => {
    if (i % 2 === 1) {
      const n = (i + 1) * 2e5;
      assert.equal(result.ok, (n * (n - 1)) / 2, `isolate ${i} finished its sum`);
    } else if (result.error) {
      assert.ok(result.error instanceof ivm.DisposedError, String(result.error));
    }
  });
  for (let i = 1; i < isolates.length; i += 2) isolates[i].dispose();
});

test('a memory-hungry isolate does not stop another one', async () => {
  const victim = new ivm.Isolate({ memoryLimit: 16 }).createContextSync();
  const bystander = new ivm.Isolate({ memoryLimit: 16 }).createContextSync();
  const hog = victim.eval('const keep = []; for (;;) keep.push(new Array(1e5).fill(1))');
  const steady = bystander.eval('let s = 0; for (let i = 0; i < 1e6; i++) s += i; s');
  await assert.rejects(hog, ivm.MemoryLimitError);
  assert.equal(await steady, (1e6 * (1e6 - 1)) / 2);
});

test('a worker stuck in a synchronous call can still be terminated, and Node can exit', async () => {
  const { Worker } = require('node:worker_threads');
  const addon = require.resolve('../../bindings/node');
  const stuck = () => {
    const worker = new Worker(
      `const ivm = require(${JSON.stringify(addon)});
       const context = new ivm.Isolate().createContextSync();
       require('node:worker_threads').parentPort.postMessage('running');
       context.evalSync('for (;;) {}');`,
      { eval: true },
    );
    return new Promise((resolve) => worker.once('message', () => resolve(worker)));
  };
  // worker.terminate() waits for the worker's thread, which runs the loop.
  const worker = await stuck();
  const started = Date.now();
  assert.equal(await worker.terminate(), 1);
  assert.ok(Date.now() - started < 5000, 'terminate() returned promptly');
  // A long synchronous call on a thread Node does not stop runs to its end.
  const context = new ivm.Isolate().createContextSync();
  assert.equal(context.evalSync('let s = 0; for (let i = 0; i < 3e7; i++) s += 1; s'), 3e7);
  // process.exit() stops workers too: a child process with a stuck worker exits.
  const { spawnSync } = require('node:child_process');
  const child = spawnSync(
    process.execPath,
    [
      '-e',
      `const { Worker } = require('node:worker_threads');
       const w = new Worker(${JSON.stringify(
         `const ivm = require(${JSON.stringify(addon)});
          const context = new ivm.Isolate().createContextSync();
          require('node:worker_threads').parentPort.postMessage('running');
          context.evalSync('for (;;) {}');`,
       )}, { eval: true });
       w.once('message', () => process.exit(7));`,
    ],
    { timeout: 20000 },
  );
  assert.equal(child.status, 7, String(child.stderr));
});

// The attacks on the memory limit that Rust and Python run too
// (tests/conformance/memory-vectors.json), each in a fresh process.
const memoryVectors = JSON.parse(
  require('node:fs').readFileSync(require('node:path').join(__dirname, '..', 'conformance', 'memory-vectors.json'), 'utf8'),
).vectors.filter((vector) => vector.bounded);

for (const vector of memoryVectors) {
  test(`memory attack: ${vector.name} ends in an error within twice the limit plus 64 MiB, and its memory comes back`, () => {
    const { execFileSync } = require('node:child_process');
    const output = execFileSync(process.execPath, [require.resolve('./support/memory-vector.js'), vector.code], { encoding: 'utf8' });
    const { outcome, peak, returned } = JSON.parse(output);
    assert.notEqual(outcome, 'completed');
    assert.ok(peak <= 2 * 32 + 64, `peak growth ${peak.toFixed(0)} MiB`);
    assert.ok(returned <= 16, `${returned.toFixed(0)} MiB still resident after dispose`);
  });
}

test('a zero timeout is no timeout, as in isolated-vm (and in Rust and Python)', () => {
  const context = new ivm.Isolate().createContextSync();
  assert.equal(context.evalSync('let n = 0; for (let i = 0; i < 1e6; i++) n += i; n', { timeout: 0 }), 499999500000);
});

test("a value the host sets that cannot fit in the isolate's heap is a RangeError, and the isolate is kept", () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  const huge = 'y'.repeat(2 ** 29 - 24);
  const attempts = {
    setSync: () => context.global.setSync('big', huge),
    'an evalClosure argument': () => context.evalClosureSync('globalThis.big = $0', [huge], { arguments: { copy: true } }),
    'an ExternalCopy': () => context.global.setSync('big', new ivm.ExternalCopy(huge).copyInto()),
  };
  for (const [what, attempt] of Object.entries(attempts)) {
    assert.throws(attempt, (error) => error instanceof RangeError && /memory limit/.test(error.message), what);
    assert.equal(isolate.isDisposed, false, what);
    assert.equal(context.evalSync('typeof big'), 'undefined', what);
  }
  context.global.setSync('fits', 'y'.repeat(4 << 20));
  assert.equal(context.evalSync('fits.length'), 4 << 20);
  isolate.dispose();
});

test("what leaves an isolate is bounded by its memory limit, with an error naming it, and the isolate is kept", () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  const rope = "let s = 'x'.repeat(1 << 20); for (let i = 0; i < 8; i++) s = s + s;";
  const overLimit = (error) => error instanceof ivm.TransferError && /32 MiB/.test(error.message);
  assert.throws(() => context.evalSync(`{ ${rope} s }`), overLimit, 'a 256 MiB rope');
  assert.throws(
    () => context.evalSync("{ const s = 'y'.repeat(1 << 20); Array(2000).fill(s) }", { copy: true }),
    overLimit,
    'a string referred to 2,000 times',
  );
  assert.throws(() => context.evalSync(`{ ${rope} throw s }`), (error) => error instanceof RangeError && /32 MiB/.test(error.message));
  assert.throws(
    () => context.evalSync(`Error.prepareStackTrace = () => { ${rope} return s; }; throw new Error('x')`),
    (error) => error.stack.length < 1000 && /32 MiB/.test(error.stack),
  );
  assert.equal(isolate.isDisposed, false);
  assert.equal(context.evalSync("'y'.repeat(1 << 20).length"), 1 << 20);
  isolate.dispose();
});
