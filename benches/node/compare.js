// ivm against isolated-vm, in one Node process, through the same API.
//
// A benchmark, not a test: it loads both libraries side by side, times the
// same operations with each, and prints a Markdown table of the mean time per
// operation and how long ivm takes relative to isolated-vm (the goal is at
// most 0.67x, i.e. ivm at least 1.5x as fast). `cargo xtask bench` runs it
// on Node 24 (isolated-vm 7.0.1) and on the machine's Node 20 (isolated-vm
// 5.0.4); see xtask/src/main.rs.
//
// Usage:
//   node --no-node-snapshot --expose-gc benches/node/compare.js \
//     [--ivm=PATH] [--isolated-vm=DIR] [--time=MS]
// or the same through the environment: IVM_COMPARE_IVM, IVM_COMPARE_PEER_DIR,
// IVM_COMPARE_TIME_MS.
//   --ivm          what to require() for ivm (default: ../../bindings/node
//                  beside this script)
//   --isolated-vm  a directory whose node_modules holds isolated-vm (it is
//                  installed under target/, not beside this script); default:
//                  target/bench-peers
//   --time         milliseconds of measurement per operation and library
//                  (default 1000), split over rounds that alternate which
//                  library goes first
// IVM_BENCH_RESULTS names a file the rows are appended to, for xtask.
// IVM_NODE_ADDON, which bindings/node/index.js reads, picks the addon file
// (default: ivm.node beside it); `cargo xtask bench` points it at a release
// build of its own.
// Without --no-node-snapshot (which isolated-vm needs on Node >= 20; ivm
// needs no flag) the script restarts itself with it.
'use strict';

const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const NEEDED_FLAGS = ['--no-node-snapshot', '--expose-gc'];
if (!NEEDED_FLAGS.every((flag) => process.execArgv.includes(flag))) {
  const flags = NEEDED_FLAGS.filter((flag) => !process.execArgv.includes(flag));
  const child = spawnSync(process.execPath, [...process.execArgv, ...flags, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(child.status === null ? 1 : child.status);
}

function option(name, envName, fallback) {
  const prefix = `--${name}=`;
  const arg = process.argv.slice(2).find((a) => a.startsWith(prefix));
  if (arg !== undefined) return arg.slice(prefix.length);
  if (process.env[envName]) return process.env[envName];
  return fallback;
}

const repoRoot = path.resolve(__dirname, '../..');
const ivmPath = path.resolve(option('ivm', 'IVM_COMPARE_IVM', path.join(repoRoot, 'bindings/node')));
const peerDir = path.resolve(option('isolated-vm', 'IVM_COMPARE_PEER_DIR', path.join(repoRoot, 'target/bench-peers')));
const timeMs = Number(option('time', 'IVM_COMPARE_TIME_MS', '1000'));
if (!(timeMs > 0)) throw new Error(`--time must be a positive number of milliseconds, not ${timeMs}`);

const ROUNDS = 4; // alternating which library runs first, so neither always runs on the other's garbage or in the same stretch of load
const WARM_UP_MS = 150;
const MIN_WARM_UP_ITERATIONS = 3;
const BATCH_MS = 2; // batches at least this long, so reading the clock costs nothing measurable
const GOAL = 0.67;

const peerEntry = require.resolve('isolated-vm', { paths: [peerDir] });
const libraries = [
  { name: 'ivm', lib: require(ivmPath), version: readVersion(ivmPath) },
  { name: 'isolated-vm', lib: require(peerEntry), version: readVersion(path.dirname(peerEntry)) },
];

function readVersion(dir) {
  try {
    return require(path.join(dir, 'package.json')).version;
  } catch {
    return '?';
  }
}

const now = () => process.hrtime.bigint();

function collectGarbage() {
  if (typeof global.gc === 'function') global.gc();
}

// Runs `fn` for at least `ms` (in batches that double until one lasts
// BATCH_MS) and returns the time and the count of calls.
function runSync(fn, ms, minIterations = 1) {
  const deadline = now() + BigInt(Math.round(ms * 1e6));
  let iterations = 0;
  let batch = 1;
  let total = 0n;
  let t;
  do {
    const start = now();
    for (let i = 0; i < batch; i++) fn();
    t = now();
    total += t - start;
    iterations += batch;
    if (t - start < BigInt(BATCH_MS * 1e6)) batch *= 2;
  } while (t < deadline || iterations < minIterations);
  return { ns: Number(total), iterations };
}

// Runs `fn` in bursts of three calls 30 ms apart, for at least `ms`, timing
// only the calls.
async function runBursts(fn, ms, minIterations = 1) {
  const deadline = now() + BigInt(Math.round(ms * 1e6));
  let iterations = 0;
  let total = 0n;
  do {
    await new Promise((resolve) => setTimeout(resolve, 30));
    const start = now();
    for (let i = 0; i < 3; i++) fn();
    total += now() - start;
    iterations += 3;
  } while (now() < deadline || iterations < minIterations);
  return { ns: Number(total), iterations };
}

// The same for functions that return a promise: each call is awaited before
// the next starts, so this is the latency of one round trip.
async function runAsync(fn, ms, minIterations = 1) {
  const deadline = now() + BigInt(Math.round(ms * 1e6));
  let iterations = 0;
  let batch = 1;
  let total = 0n;
  let t;
  do {
    const start = now();
    for (let i = 0; i < batch; i++) await fn();
    t = now();
    total += t - start;
    iterations += batch;
    if (t - start < BigInt(BATCH_MS * 1e6)) batch *= 2;
  } while (t < deadline || iterations < minIterations);
  return { ns: Number(total), iterations };
}

function check(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: got ${String(actual)}, expected ${String(expected)}`);
}

const objects = Array.from({ length: 1e4 }, (_, i) => ({ i, s: 'x' + i }));
const bytes = new Uint8Array(64 << 20).fill(7).buffer;

// Each row makes, for one library, the operation it times (once per library,
// outside the timing). `async` rows return a promise that is awaited.
const rows = [
  {
    name: 'applySync of (a, b) => a + b',
    make(ivm, state) {
      const ref = state.context.evalSync('(a, b) => a + b', { reference: true });
      return () => check(ref.applySync(undefined, [1, 2]), 3, 'applySync');
    },
  },
  {
    name: "evalSync('1+2')",
    make(ivm, state) {
      return () => check(state.context.evalSync('1+2'), 3, 'evalSync');
    },
  },
  {
    name: "isolate + createContextSync + evalSync('1') + dispose",
    make(ivm) {
      return () => {
        const isolate = new ivm.Isolate({ memoryLimit: 128 });
        const context = isolate.createContextSync();
        check(context.evalSync('1'), 1, 'evalSync in a new isolate');
        isolate.dispose();
      };
    },
  },
  {
    name: 'await apply(undefined, [1, 2]) round trip',
    async: true,
    make(ivm, state) {
      const ref = state.context.evalSync('(a, b) => a + b', { reference: true });
      return async () => check(await ref.apply(undefined, [1, 2]), 3, 'apply');
    },
  },
  {
    // Measured: copying a Node array of 10,000 objects `{ i, s: 'x' + i }`
    // out of Node's heap into an ExternalCopy (`new ExternalCopy(array)`),
    // copying it back into a new array on Node's heap (`.copy()`), and
    // releasing the ExternalCopy (`.release()`) so its memory is freed now
    // rather than by a later GC. No isolate takes part.
    name: 'new ExternalCopy(10k objects).copy() + release',
    make(ivm) {
      return () => {
        const copy = new ivm.ExternalCopy(objects);
        const back = copy.copy();
        copy.release();
        check(back.length, 1e4, 'copied array length');
        check(back[9999].s, 'x9999', 'copied array content');
      };
    },
  },
  {
    // Measured: copying a 64 MiB ArrayBuffer into an ExternalCopy, copying
    // that back into a new ArrayBuffer on Node's side (`.copy()`), and
    // releasing the ExternalCopy: two 64 MiB copies and their allocations.
    name: 'new ExternalCopy(64 MiB ArrayBuffer).copy() + release',
    make(ivm) {
      return () => {
        const copy = new ivm.ExternalCopy(bytes);
        const back = copy.copy();
        copy.release();
        check(back.byteLength, 64 << 20, 'copied ArrayBuffer length');
      };
    },
  },
];

function formatNs(ns) {
  if (ns === undefined) return '-';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

function describe(error) {
  return String(error && error.message ? error.message : error).split('\n')[0];
}

// Times every row for each library (`libraries[i].lib`, with what the rows
// need on the entry): the mean time per operation, or the error.
async function measure(libraries, rows) {
  const results = [];
  for (const row of rows) {
    process.stderr.write(`compare: ${row.name} ...`);
    // A row that times itself (`measure(fn, ms)`), to leave out pauses.
    const run = row.measure ?? (row.async ? runAsync : runSync);
    const measured = libraries.map((entry) => {
      const slot = { name: entry.name, ns: 0, iterations: 0 };
      try {
        if (entry.setupError) throw entry.setupError;
        slot.fn = row.make(entry.lib, entry);
      } catch (error) {
        slot.error = error;
      }
      return slot;
    });
    // Warm-up: the first calls compile, allocate and fill caches.
    for (const slot of measured) {
      if (slot.error) continue;
      try {
        await run(slot.fn, WARM_UP_MS, MIN_WARM_UP_ITERATIONS);
      } catch (error) {
        slot.error = error;
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? measured : [...measured].reverse();
      for (const slot of order) {
        if (slot.error) continue;
        collectGarbage();
        try {
          const { ns, iterations } = await run(slot.fn, timeMs / ROUNDS);
          slot.ns += ns;
          slot.iterations += iterations;
        } catch (error) {
          slot.error = error;
        }
      }
    }
    const perOp = measured.map((slot) => (slot.error ? undefined : slot.ns / slot.iterations));
    for (const slot of measured) {
      if (slot.error) console.error(`\n${slot.name} failed at "${row.name}":`, slot.error);
    }
    process.stderr.write(` ${measured.map((s, i) => `${s.name} ${formatNs(perOp[i])}`).join(', ')}\n`);
    results.push({ row, measured, perOp });
  }
  return results;
}

// Prints one comparison's table, and appends its rows to IVM_BENCH_RESULTS
// for `cargo xtask bench`'s report (docs/BENCHMARKS.md): one tab-separated
// line per row, with times in nanoseconds. `goalOf(row)` is the most ivm's
// time may be as a multiple of the peer's. Gives how many cells failed.
function report(section, [ours, peer], results, goalOf) {
  console.log(`| operation | ${ours.name} | ${peer.name} | ${ours.name} takes × ${peer.name}'s time | goal | met |`);
  console.log('|---|---|---|---|---|---|');
  let failures = 0;
  for (const { row, measured, perOp } of results) {
    failures += measured.filter((slot) => slot.error).length;
    const cell = (i) => (measured[i].error ? `error: ${describe(measured[i].error)}` : formatNs(perOp[i]));
    let ratio = '-';
    let met = '-';
    if (perOp[0] !== undefined && perOp[1] !== undefined && perOp[1] > 0) {
      const r = perOp[0] / perOp[1];
      ratio = `${r.toFixed(2)}×`;
      met = r <= goalOf(row) ? 'yes' : 'no';
    }
    console.log(`| ${row.name} | ${cell(0)} | ${cell(1)} | ${ratio} | ≤ ${goalOf(row)}× | ${met} |`);
  }
  if (process.env.IVM_BENCH_RESULTS) {
    const lines = results
      .filter(({ perOp }) => perOp[0] !== undefined && perOp[1] !== undefined)
      .map(({ row, perOp }) => [section, row.name, perOp[0], perOp[1], goalOf(row)].join('\t') + '\n');
    require('node:fs').appendFileSync(process.env.IVM_BENCH_RESULTS, lines.join(''));
  }
  return failures;
}

// `require('ivm/vm')` against node:vm, the same calls through the same API.
// node:vm shares Node's heap and isolates nothing; ivm/vm puts each context
// in an isolate of its own, and hands out contexts booted ahead of time.
const vmRows = [
  {
    name: "vm.runInContext('x + 1', context), a context reused",
    goal: 3,
    make(vm) {
      const context = vm.createContext({ x: 1 });
      return () => check(vm.runInContext('x + 1', context), 2, 'runInContext');
    },
  },
  {
    // The same when calls come in bursts with pauses between (a server's
    // requests, say): a context booted ahead of time is ready each time.
    name: "vm.runInNewContext('x + 1', { x: 1 }), bursts of 3 calls 30 ms apart",
    goal: 1,
    measure: runBursts,
    make(vm) {
      return () => check(vm.runInNewContext('x + 1', { x: 1 }), 2, 'runInNewContext');
    },
  },
  {
    // Goal: faster than node:vm, which builds a new context every time.
    // Last: it leaves isolates being torn down behind it, on other threads.
    name: "vm.runInNewContext('x + 1', { x: 1 })",
    goal: 1,
    make(vm) {
      return () => check(vm.runInNewContext('x + 1', { x: 1 }), 2, 'runInNewContext');
    },
  },
];

(async () => {
  const started = now();
  // Other work on the machine shows up in every figure: note how busy it was.
  const loadAtStart = os.loadavg()[0];
  // One isolate and context per library for the rows that need them.
  for (const entry of libraries) {
    try {
      entry.isolate = new entry.lib.Isolate({ memoryLimit: 128 });
      entry.context = entry.isolate.createContextSync();
    } catch (error) {
      entry.setupError = error;
      console.error(`${entry.name}: could not create an isolate and context:`, error);
    }
  }
  const results = await measure(libraries, rows);
  for (const entry of libraries) {
    try {
      if (entry.isolate) entry.isolate.dispose();
    } catch (error) {
      console.error(`${entry.name}: dispose failed:`, error);
    }
  }
  const vms = [
    { name: 'ivm/vm', lib: libraries[0].lib.vm },
    { name: 'node:vm', lib: require('node:vm') },
  ];
  const vmResults = await measure(vms, vmRows);

  const [ours, peer] = libraries;
  const peerName = `isolated-vm ${peer.version}`;
  console.log(`\n### ivm vs ${peerName} on Node ${process.version}\n`);
  const addon = process.env.IVM_NODE_ADDON || path.join(ivmPath, 'ivm.node');
  console.log(`ivm ${ours.version} from ${ivmPath} (addon ${addon}); ${peerName} from ${path.dirname(peerEntry)}.`);
  const cpus = os.cpus();
  console.log(
    `${cpus.length} × ${cpus[0] ? cpus[0].model.trim() : 'unknown CPU'}; ` +
      `load average ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0].toFixed(2)} at the end.`,
  );
  console.log(
    `Mean time per operation over ≥ ${timeMs} ms per library (${ROUNDS} alternating rounds after a warm-up).\n`,
  );
  let failures = report(`Node ${process.version}: ivm vs ${peerName}`, [{ name: 'ivm' }, { name: peerName }], results, () => GOAL);
  console.log(`\n### ivm/vm vs node:vm on Node ${process.version}\n`);
  failures += report(`Node ${process.version}: ivm/vm vs node:vm`, vms, vmResults, (row) => row.goal);
  console.log(`\n(${(Number(now() - started) / 1e9).toFixed(1)} s)`);
  process.exitCode = failures > 0 ? 1 : 0;
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
