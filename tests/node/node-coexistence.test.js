'use strict';
// ivm inside Node: Node's own work (JSON, Buffers, worker threads, its
// garbage collector, its event loop) goes on normally while isolates
// compute; the addon loads and works in worker threads, with no Node flags;
// and it exports nothing but its Node-API entry point.

const { test } = require('node:test');
const assert = require('node:assert');
const { execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

const ivm = require('../../bindings/node');
const { runWorker } = require('./support/helpers');

const addon = path.resolve(__dirname, '../../bindings/node');
const addonFile = path.join(addon, 'ivm.node');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// The sum of 0..n-1, as the isolates and the worker compute it.
function sumBelow(n) {
  return (n * (n - 1)) / 2;
}

// The sum of the squares of 0..n-1, modulo 1000003.
function squaresBelow(n) {
  const big = BigInt(n);
  return Number((((big - 1n) * big * (2n * big - 1n)) / 6n) % 1000003n);
}


// Node's side of the concurrency: big JSON, Buffers, gc, and a worker thread.
function bigObject() {
  const items = [];
  for (let i = 0; i < 100_000; i++) items.push({ id: i, name: `item-${i}`, tags: ['a', 'b', i % 7], nested: { x: i / 2 } });
  return { items, when: '2024-01-01T00:00:00.000Z' };
}

async function nodeWork() {
  const results = {};
  const object = bigObject();
  const text = JSON.stringify(object);
  await new Promise(setImmediate);
  const parsed = JSON.parse(text);
  results.json = parsed.items.length === 100_000 && parsed.items[99_999].name === 'item-99999' && JSON.stringify(parsed) === text;
  gc();
  await new Promise(setImmediate);
  const buffer = Buffer.alloc(16 << 20);
  for (let i = 0; i < buffer.length; i += 4096) buffer[i] = (i >> 12) & 0xff;
  const back = Buffer.from(buffer.toString('base64'), 'base64');
  const joined = Buffer.concat([back.subarray(3 * 4096, 3 * 4096 + 1), Buffer.from('end')]);
  results.buffers = back.equals(buffer) && joined.toString('latin1') === '\x03end' && back.readUInt8(4096 * 300) === (300 & 0xff);
  gc();
  return results;
}

test('Node keeps working normally while isolates compute', async () => {
  const workerSum = runWorker(
    `const { parentPort, workerData } = require('node:worker_threads');
     let s = 0;
     for (let i = 0; i < workerData.n; i++) s += i;
     parentPort.postMessage(s);`,
    { n: 3e7 },
  );

  // Three isolates: CPU loops through context.eval, and a function called
  // through reference.apply.
  const isolates = [0, 1, 2].map(() => new ivm.Isolate({ memoryLimit: 64 }));
  const contexts = await Promise.all(isolates.map((isolate) => isolate.createContext()));
  // About half a second each: long enough to overlap Node's work below.
  const loops = contexts.map((context, i) =>
    context.eval(`let s = 0; for (let i = 0; i < ${1e7 + i}; i++) s = (s + i * i) % 1000003; s`),
  );
  const fib = await contexts[0].evalClosure(
    'return function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }',
    [],
    { result: { reference: true } },
  );
  const applied = [fib.apply(undefined, [25]), fib.apply(undefined, [20])];

  // The event loop turns while they run.
  let ticks = 0;
  const interval = setInterval(() => ++ticks, 5);
  const node = await nodeWork();
  gc();
  const [sums, fibs, worker] = await Promise.all([Promise.all(loops), Promise.all(applied), workerSum]);
  clearInterval(interval);

  assert.deepStrictEqual(node, { json: true, buffers: true });
  assert.deepStrictEqual(sums, [squaresBelow(1e7), squaresBelow(1e7 + 1), squaresBelow(1e7 + 2)]);
  assert.deepStrictEqual(fibs, [75025, 6765]);
  assert.deepStrictEqual(worker, { message: sumBelow(3e7), exitCode: 0 });
  assert.ok(ticks > 0, 'the event loop turned while the isolates ran');
  for (const isolate of isolates) isolate.dispose();
});

test("Node's event loop stays responsive while an isolate computes", async () => {
  const context = await new ivm.Isolate().createContext();
  const started = Date.now();
  const busy = context.eval('const end = Date.now() + 600; let n = 0; while (Date.now() < end) ++n; n > 0');
  let done = false;
  busy.then(() => {
    done = true;
  });
  // Timers fire on time (give or take a loaded machine) during the 600ms.
  const delays = [];
  while (!done && Date.now() - started < 450) {
    const before = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 10));
    delays.push(Date.now() - before);
  }
  assert.strictEqual(await busy, true);
  assert.ok(delays.length >= 5, `only ${delays.length} timers fired while the isolate ran`);
  assert.ok(Math.max(...delays) < 200, `timer delays ${delays}`);
});

test(
  "context.global does not block Node's thread while the isolate is busy",
  async () => {
    // In a child process: the bug blocks the thread that reads `global`.
    const script = `
      const ivm = require(${JSON.stringify(addon)});
      const context = new ivm.Isolate().createContextSync();
      context.eval('const end = Date.now() + 1500; while (Date.now() < end);');
      const started = Date.now();
      context.global;
      console.log(Date.now() - started);
    `;
    const { stdout, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, out, err) => {
        resolve({ stdout: out, stderr: err });
      });
    });
    const blockedMs = Number(stdout.trim());
    assert.ok(blockedMs < 200, `context.global took ${stdout.trim()}ms ${stderr}`);
  },
);

test("Node's garbage collector runs among isolates and leaves the live handles working", async () => {
  const isolate = new ivm.Isolate();
  const context = await isolate.createContext();
  {
    // Node keeps no handle of its own on these: the isolate holds them.
    await context.global.set('host', new ivm.Reference({ n: 5 }));
    await context.global.set('triple', new ivm.Callback((x) => x * 3));
  }
  for (let round = 0; round < 10; round++) {
    // Isolates, contexts and references dropped, some of them busy.
    const dropped = new ivm.Isolate({ memoryLimit: 32 });
    const droppedContext = dropped.createContextSync();
    droppedContext.evalSync('globalThis.big = new Array(1e5).fill(1)');
    droppedContext.evalSync('({ a: 1 })', { reference: true });
    const busy = droppedContext.eval('let s = 0; for (let i = 0; i < 1e6; i++) s += i; s');
    gc();
    if (round % 2) assert.strictEqual(await busy, sumBelow(1e6));
    assert.strictEqual(await context.eval(`${round} + 1`), round + 1);
  }
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  assert.strictEqual(await context.eval('host.get("n")', { promise: true }), 5);
  assert.strictEqual(await context.eval('host.getSync("n")'), 5);
  assert.strictEqual(await context.eval('triple(14)'), 42);
  assert.strictEqual(context.evalSync('triple(2)'), 6);
  isolate.dispose();
});

const workerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const ivm = require(${JSON.stringify(addon)});
(async () => {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = await isolate.createContext();
  const sync = context.evalSync('6 * 7');
  const loop = await context.eval('let s = 0; for (let i = 0; i < 1e6; i++) s += i; s');
  const add = await context.evalClosure('return (a) => a + $0', [workerData.n], { result: { reference: true } });
  const applied = await add.apply(undefined, [100]);
  await context.global.set('double', new ivm.Callback((x) => x * 2));
  const called = await context.eval('double(21)');
  const copied = await context.eval('({ list: [1, 2, 3], when: new Date(0) })', { copy: true });
  isolate.dispose();
  parentPort.postMessage({ sync, loop, applied, called, copied: [copied.list, copied.when instanceof Date] });
})().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));
`;

function expectedFromWorker(n) {
  return { sync: 42, loop: sumBelow(1e6), applied: 100 + n, called: 42, copied: [[1, 2, 3], true] };
}

test('the addon loads and works inside a worker thread', async () => {
  const { message, exitCode } = await runWorker(workerCode, { n: 1 });
  assert.deepStrictEqual(message, expectedFromWorker(1));
  assert.strictEqual(exitCode, 0);
});

test("two worker threads use ivm at once, and Node's thread too", async () => {
  const workers = [runWorker(workerCode, { n: 1 }), runWorker(workerCode, { n: 2 })];
  const context = new ivm.Isolate().createContextSync();
  const here = context.eval('let s = 0; for (let i = 0; i < 1e6; i++) s += i; s');
  const [one, two] = await Promise.all(workers);
  assert.deepStrictEqual(one, { message: expectedFromWorker(1), exitCode: 0 });
  assert.deepStrictEqual(two, { message: expectedFromWorker(2), exitCode: 0 });
  assert.strictEqual(await here, sumBelow(1e6));
});

test('ivm in worker threads needs no Node flags', async () => {
  // A fresh Node, with no flags and no NODE_OPTIONS, whose main thread
  // never loads the addon: two workers do.
  const script = `
    const { Worker } = require('node:worker_threads');
    const code = ${JSON.stringify(workerCode)};
    const run = (n) => new Promise((resolve, reject) => {
      const worker = new Worker(code, { eval: true, workerData: { n } });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    Promise.all([run(1), run(2)]).then((results) => {
      console.log(JSON.stringify({ execArgv: process.execArgv, results }));
    });
  `;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ivm-workers-'));
  const file = path.join(dir, 'workers.js');
  fs.writeFileSync(file, script);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const { stdout, stderr, code } = await new Promise((resolve) => {
    execFile(process.execPath, [file], { env, timeout: 60_000 }, (error, out, err) => {
      resolve({ stdout: out, stderr: err, code: error ? error.code : 0 });
    });
  });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.strictEqual(code, 0, stderr);
  const report = JSON.parse(stdout);
  assert.deepStrictEqual(report.execArgv, []);
  assert.deepStrictEqual(report.results, [expectedFromWorker(1), expectedFromWorker(2)]);
});

test('ivm.node exports only napi_register_module_v1', (t) => {
  const nm = spawnSync('nm', ['-D', '--defined-only', addonFile], { encoding: 'utf8' });
  if (nm.error && nm.error.code === 'ENOENT') {
    t.skip('nm is not installed');
    return;
  }
  assert.strictEqual(nm.status, 0, nm.stderr);
  const symbols = nm.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.trim().split(/\s+/).pop());
  assert.deepStrictEqual(symbols, ['napi_register_module_v1']);
});

test('the entry point evaluated again in the same process (as Jest does for each test file) gives the same API', () => {
  const entry = require.resolve('../../bindings/node');
  const first = require(entry);
  // A fresh module registry, as Jest's: the addon itself stays loaded.
  delete require.cache[entry];
  const again = require(entry);
  assert.equal(again, first);
  const isolate = new again.Isolate({ memoryLimit: 16 });
  assert.equal(isolate.createContextSync().evalSync('1 + 2'), 3);
  assert.throws(() => isolate.createContextSync().evalSync('for (;;) {}', { timeout: 20 }), first.TimeoutError);
  isolate.dispose();
});
