'use strict';
// Startup snapshots: ivm.Isolate.createSnapshot(scripts, warmupScript) and
// new ivm.Isolate({ snapshot }), as isolated-vm 7 has them. The scripts run
// in a snapshot worker, a Node process of the addon's, so broken or hostile
// scripts end in errors, and snapshots can be made while isolates run.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const ivm = require('../../bindings/node');
const { runWorker } = require('./support/helpers');

const library = path.join(__dirname, '../../bindings/node');

function evalIn(isolate, code) {
  return isolate.createContextSync().evalSync(code);
}

test('an isolate booted from a snapshot has the scripts\' globals and functions', async () => {
  const snapshot = ivm.Isolate.createSnapshot([
    { code: 'globalThis.greet = (name) => `hello ${name}`;', filename: 'greet.js' },
    { code: 'var counter = 41; counter++; class Point { constructor(x) { this.x = x; } }; const table = { a: [1, 2] };' },
    { code: 'function twice(x) { return 2 * x; }', filename: 'file:///twice.js', lineOffset: 3, columnOffset: 2 },
  ]);
  assert.ok(snapshot instanceof ivm.ExternalCopy);
  const bytes = snapshot.copy();
  assert.ok(bytes instanceof ArrayBuffer);
  assert.ok(bytes.byteLength > 0);

  const isolate = new ivm.Isolate({ snapshot, memoryLimit: 32 });
  const context = isolate.createContextSync();
  assert.equal(context.evalSync('greet("snapshot") + " " + counter'), 'hello snapshot 42');
  assert.equal(context.evalSync('new Point(twice(21)).x + table.a.length'), 44);
  // Every context, sync or async, starts from the snapshot, on its own.
  context.evalSync('counter = 0; globalThis.greet = null');
  const another = await isolate.createContext();
  assert.equal(another.evalSync('counter'), 42);
  assert.equal(another.evalSync('typeof greet'), 'function');
  assert.equal(isolate.createContextSync().evalSync('typeof Point'), 'function');
  // Scripts, modules and references work there as anywhere.
  assert.equal(isolate.compileScriptSync('twice(counter)').runSync(another), 84);
  assert.equal(another.global.getSync('twice')(5), 10);

  // A plain isolate has none of it.
  const plain = new ivm.Isolate();
  assert.equal(evalIn(plain, 'typeof greet + typeof counter + typeof Point'), 'undefinedundefinedundefined');
  plain.dispose();

  // The same bytes boot any number of isolates, also through a new copy.
  const again = new ivm.Isolate({ snapshot: new ivm.ExternalCopy(bytes) });
  assert.equal(evalIn(again, 'greet("again")'), 'hello again');
  again.dispose();
  isolate.dispose();
});

test('limits hold in an isolate booted from a snapshot', () => {
  const snapshot = ivm.Isolate.createSnapshot([{ code: 'var ready = true' }]);
  const isolate = new ivm.Isolate({ snapshot, memoryLimit: 16 });
  const context = isolate.createContextSync();
  assert.equal(context.evalSync('ready'), true);
  assert.throws(() => context.evalSync('while (true) {}', { timeout: 50 }), ivm.TimeoutError);
  assert.throws(
    () => context.evalSync('const a = []; while (true) a.push(new Array(1e5).fill(1))'),
    ivm.MemoryLimitError,
  );
  assert.equal(isolate.isDisposed, true, 'as isolated-vm, the memory limit disposes the isolate');
});

test('a warmupScript keeps the compiled code but not its state', () => {
  const snapshot = ivm.Isolate.createSnapshot(
    [{ code: 'function square(x) { return x * x; } var calls = 0;' }],
    'for (let i = 0; i < 1000; i++) { square(i); calls++; } globalThis.leaked = true;',
  );
  const isolate = new ivm.Isolate({ snapshot });
  assert.equal(evalIn(isolate, 'square(12) + calls'), 144);
  assert.equal(evalIn(isolate, 'typeof leaked'), 'undefined');
  isolate.dispose();
  // An empty list of scripts makes a snapshot too.
  const empty = new ivm.Isolate({ snapshot: ivm.Isolate.createSnapshot([]) });
  assert.equal(evalIn(empty, '6 * 7'), 42);
  empty.dispose();
});

test('a script that throws fails createSnapshot with its error', () => {
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 'var a = 1' }, { code: 'throw new TypeError("setup failed")' }]), {
    name: 'TypeError',
    message: 'setup failed',
  });
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 'let = ;' }]), SyntaxError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 'undefinedFunction()' }]), ReferenceError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 'throw "a string"' }]), /a string/);
  assert.throws(
    () => ivm.Isolate.createSnapshot([{ code: 'var x = 1' }], 'throw new RangeError("warmup failed")'),
    { name: 'RangeError', message: 'warmup failed' },
  );
});

test('runaway and memory-hungry scripts end in ivm\'s errors, under the worker\'s limits', () => {
  // isolated-vm's createSnapshot has no limits (a loop stalls it); ivm's
  // worker has ivm-core's (10 s, 128 MB), which a third argument, ignored
  // by isolated-vm, can change.
  const started = Date.now();
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 'while (true) {}' }], undefined, { timeout: 200 }), ivm.TimeoutError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 'var x = 1' }], 'for (;;) {}', { timeout: 200 }), ivm.TimeoutError);
  assert.ok(Date.now() - started < 8000, 'the timeout, not the default, ended them');
  assert.throws(
    () =>
      ivm.Isolate.createSnapshot([{ code: 'const a = []; while (true) a.push(new Array(1e5).fill(1))' }], undefined, {
        memoryLimit: 16,
      }),
    ivm.MemoryLimitError,
  );
});

test('createSnapshot checks its arguments as isolated-vm does', () => {
  for (const bad of [undefined, 'code', { code: '1' }]) {
    assert.throws(() => ivm.Isolate.createSnapshot(bad), TypeError);
  }
  assert.throws(() => ivm.Isolate.createSnapshot([null]), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{}]), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: 1 }]), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1', filename: 2 }]), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1', lineOffset: 1.5 }]), RangeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1', columnOffset: '2' }]), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1' }], 42), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1' }], undefined, { timeout: -1 }), RangeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1' }], undefined, { timeout: '1' }), TypeError);
  assert.throws(() => ivm.Isolate.createSnapshot([{ code: '1' }], undefined, { memoryLimit: 'lots' }), TypeError);
});

test('bytes that are not a snapshot are refused, without a crash', () => {
  const good = ivm.Isolate.createSnapshot([{ code: 'var ok = true' }]).copy();
  const corrupt = new Uint8Array(good.slice(0));
  corrupt[corrupt.length >> 1] ^= 0xff;
  const noise = new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff);
  for (const bytes of [new ArrayBuffer(0), new ArrayBuffer(8), noise.buffer, corrupt.buffer, good.slice(0, good.byteLength >> 1)]) {
    assert.throws(() => new ivm.Isolate({ snapshot: new ivm.ExternalCopy(bytes) }), (error) => {
      assert.ok(error instanceof ivm.UsageError, String(error));
      assert.match(error.message, /not a usable snapshot/);
      return true;
    });
  }
  // Anything but an ExternalCopy of an ArrayBuffer is a TypeError.
  for (const snapshot of [good, 42, 'bytes', {}, new ivm.ExternalCopy(new Uint8Array(good)), new ivm.ExternalCopy('x')]) {
    assert.throws(() => new ivm.Isolate({ snapshot }), TypeError);
  }
  // The good one still boots, and so does a plain isolate.
  const isolate = new ivm.Isolate({ snapshot: new ivm.ExternalCopy(good) });
  assert.equal(evalIn(isolate, 'ok'), true);
  isolate.dispose();
  const plain = new ivm.Isolate();
  assert.equal(evalIn(plain, '[1, 2].map((x) => x * 3).join()'), '3,6');
  plain.dispose();
});


// Makes a snapshot defining `n`, boots isolates from it and posts what they
// saw and the snapshot's bytes.
const snapshotInWorker = `
const { parentPort, workerData } = require('node:worker_threads');
const ivm = require(${JSON.stringify(library)});
try {
  const snapshot = ivm.Isolate.createSnapshot([{ code: 'var n = ' + workerData.n + '; function next() { return ++n; }' }], 'next()');
  const seen = [];
  for (let i = 0; i < 5; i++) {
    const isolate = new ivm.Isolate({ snapshot });
    seen.push(isolate.createContextSync().evalSync('next()'));
    isolate.dispose();
  }
  parentPort.postMessage({ seen, bytes: snapshot.copy() });
} catch (error) {
  parentPort.postMessage({ error: String(error && error.stack) });
}
`;

test('snapshots are made from worker threads, concurrently, while isolates run', async () => {
  // A plain isolate busy on ivm's pool the whole time.
  const busy = new ivm.Isolate({ memoryLimit: 32 });
  const busyContext = busy.createContextSync();
  const spinning = busyContext.eval(
    'let s = 0; const end = Date.now() + 400; while (Date.now() < end) s++; s > 0 ? "spun" : "no"',
  );
  const runs = await Promise.all([runWorker(snapshotInWorker, { n: 10 }), runWorker(snapshotInWorker, { n: 20 })]);
  const [first, second] = runs.map((run) => run.message);
  // Made while the other isolate ran; each context starts from the snapshot.
  assert.deepEqual(first.seen, [11, 11, 11, 11, 11]);
  assert.deepEqual(second.seen, [21, 21, 21, 21, 21]);
  assert.equal(await spinning, 'spun');
  // A snapshot made in a worker boots here too.
  const isolate = new ivm.Isolate({ snapshot: new ivm.ExternalCopy(second.bytes) });
  assert.equal(evalIn(isolate, 'next() + n'), 42);
  isolate.dispose();

  // And from the main thread while an isolate is in the middle of a call.
  const again = busyContext.eval('let t = 0; const stop = Date.now() + 300; while (Date.now() < stop) t++; t > 0');
  const snapshot = ivm.Isolate.createSnapshot([{ code: 'var main = "thread"' }]);
  assert.equal(evalIn(new ivm.Isolate({ snapshot }), 'main'), 'thread');
  assert.equal(await again, true);
  busy.dispose();
});

test('the snapshot worker ignores the parent\'s NODE_OPTIONS and stdio', () => {
  // A preloaded module that writes to stdout would garble the worker's
  // answer if the worker ran it; the parent's stdin is closed here.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ivm-snapshot-'));
  const preload = path.join(dir, 'noisy.js');
  fs.writeFileSync(preload, 'process.stdout.write("noise from a preload\\n");\n');
  const code = `
    const ivm = require(${JSON.stringify(library)});
    const snapshot = ivm.Isolate.createSnapshot([{ code: 'var answer = 42' }]);
    const isolate = new ivm.Isolate({ snapshot });
    console.log('answer=' + isolate.createContextSync().evalSync('answer'));
  `;
  try {
    const child = spawnSync(process.execPath, ['-e', code], {
      env: { ...process.env, NODE_OPTIONS: `--require ${JSON.stringify(preload)}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /noise from a preload/, 'the parent did load the preload');
    assert.match(child.stdout, /answer=42/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
