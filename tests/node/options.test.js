'use strict';
// Every numeric option, driven with the values a careless or hostile caller
// passes (NaN, the infinities, negatives, fractions, 2^53 and past it,
// 1e22, values of the wrong type, and random doubles of every magnitude):
// each call ends in a correct result, a TypeError (not a number) or a
// RangeError (out of range) that names the option, and Node lives on.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const ivm = require('../../bindings/node');

const EDGES = [NaN, Infinity, -Infinity, -1, -0.5, 0, 0.5, 1.5, 7, 8, 64, 65535, 65536, 2 ** 31, 2 ** 32,
  2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e22, Number.MAX_VALUE, -Number.MAX_VALUE];
const WRONG_TYPES = ['5', true, 10n, {}, [], () => 1, Symbol('n')];

// Random doubles of every magnitude, from a fixed seed.
function randomDoubles(count) {
  let state = 0x9e3779b9;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  return Array.from({ length: count }, () => (next() < 0.2 ? -1 : 1) * next() * 10 ** Math.floor(next() * 30 - 4));
}

const VALUES = [...EDGES, ...randomDoubles(40)];

// Runs `call(value)` and checks how it ended: `accepts(value)` says whether
// the value is in range, `check(result)` what an accepted value gives.
async function drive(name, call, { accepts, check, allowTimeout = () => false }) {
  for (const value of [...VALUES, ...WRONG_TYPES]) {
    const label = `${name} = ${typeof value === 'symbol' ? 'a symbol' : String(value)}`;
    let result;
    let error;
    try {
      result = await call(value);
    } catch (caught) {
      error = caught;
    }
    if (typeof value !== 'number') {
      assert.ok(error instanceof TypeError, `${label}: ${error}`);
      assert.equal(error.message, `\`${name}\` must be a number`, label);
    } else if (!accepts(value)) {
      assert.ok(error instanceof RangeError, `${label}: ${error}`);
      assert.match(error.message, new RegExp(`^\`${name}\` must be a `), label);
    } else if (error !== undefined) {
      assert.ok(error instanceof ivm.TimeoutError && allowTimeout(value), `${label}: ${error}`);
    } else {
      check(result, label);
    }
  }
}

const inTimeoutRange = (ms) => ms >= 0 && ms <= Number.MAX_SAFE_INTEGER;
const whole = (min, max) => (value) => Number.isInteger(value) && value >= min && value <= max;
const timeoutRules = { accepts: inTimeoutRange, check: (result, label) => assert.equal(result, 42, label), allowTimeout: (ms) => ms < 5 };

test('timeouts: every call that takes one', async () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const script = isolate.compileScriptSync('6 * 7');
  const double = context.evalSync('(x) => x * 2', { reference: true });
  context.global.setSync('n', 42);
  const calls = {
    evalSync: (timeout) => context.evalSync('6 * 7', { timeout }),
    eval: (timeout) => context.eval('6 * 7', { timeout }),
    'eval with promise': (timeout) => context.eval('Promise.resolve(42)', { timeout, promise: true }),
    evalClosureSync: (timeout) => context.evalClosureSync('return $0 * 2', [21], { timeout }),
    runSync: (timeout) => script.runSync(context, { timeout }),
    run: (timeout) => script.run(context, { timeout }),
    applySync: (timeout) => double.applySync(undefined, [21], { timeout }),
    apply: (timeout) => double.apply(undefined, [21], { timeout }),
    getSync: (timeout) => context.global.getSync('n', { timeout }),
    setSync: (timeout) => (context.global.setSync('n', 42, { timeout }), 42),
  };
  for (const [name, call] of Object.entries(calls)) {
    await test(name, () => drive('timeout', call, timeoutRules));
  }
  // A module of its own each time: one whose evaluation a timeout ended
  // stays unfinished.
  await drive('timeout', (timeout) => {
    const module = isolate.compileModuleSync('export default 42');
    module.instantiateSync(context, () => {});
    module.evaluateSync({ timeout });
    return 42;
  }, timeoutRules);
  // The case the issue was filed for.
  assert.throws(() => context.evalSync('6 * 7', { timeout: 1e22 }), RangeError);
  assert.equal(context.evalSync('6 * 7'), 42);
  isolate.dispose();
});

test('memoryLimit: isolates and pools', async () => {
  const accepts = whole(8, Math.floor(Number.MAX_SAFE_INTEGER / 2 ** 20));
  const check = (isolate, label) => {
    assert.equal(isolate.createContextSync().evalSync('1 + 1'), 2, label);
    isolate.dispose();
  };
  // Large limits are address space only: an isolate that is made and
  // disposed at once uses none of it.
  await drive('memoryLimit', (memoryLimit) => new ivm.Isolate({ memoryLimit }), { accepts, check });
  const small = whole(8, 64);
  await drive('memoryLimit', (memoryLimit) => {
    if (typeof memoryLimit === 'number' && accepts(memoryLimit) && !small(memoryLimit)) return null;
    return new ivm.IsolatePool({ size: 1, memoryLimit });
  }, { accepts, check: (pool) => pool === null || pool.checkoutSync().release() === undefined });
});

test('size: isolate pools', async () => {
  const accepts = whole(1, 2 ** 32 - 1);
  await drive('size', (size) => {
    // Booting more than a few is a test of patience, not of the check.
    if (typeof size === 'number' && accepts(size) && size > 2) return 'skipped';
    return new ivm.IsolatePool({ size, memoryLimit: 16 });
  }, { accepts, check: (pool) => assert.ok(pool === 'skipped' || pool.size >= 1) });
});

test('lineOffset and columnOffset: compiling and eval', async () => {
  const isolate = new ivm.Isolate();
  const context = isolate.createContextSync();
  const accepts = whole(-(2 ** 31), 2 ** 31 - 1);
  const check = (result, label) => assert.equal(result, 42, label);
  for (const name of ['lineOffset', 'columnOffset']) {
    await drive(name, (offset) => isolate.compileScriptSync('6 * 7', { filename: 'o.js', [name]: offset }).runSync(context), { accepts, check });
    await drive(name, (offset) => {
      const module = isolate.compileModuleSync('export default 42', { filename: 'o.mjs', [name]: offset });
      module.instantiateSync(context, () => {});
      module.evaluateSync();
      return module.namespace.getSync('default');
    }, { accepts, check });
    await drive(name, (offset) => context.evalSync('6 * 7', { filename: 'o.js', [name]: offset }), { accepts, check });
  }
  isolate.dispose();
});

test('port: the inspector server', async () => {
  const isolate = new ivm.Isolate({ inspector: true });
  // Only port 0 (a free one) is opened: the check is what is driven.
  await drive('port', (port) => {
    if (port === 0) {
      const server = isolate.startInspectorServer(port);
      server.close();
      return 'opened';
    }
    if (typeof port === 'number' && whole(1, 65535)(port)) return 'opened';
    return isolate.startInspectorServer(port);
  }, { accepts: whole(0, 65535), check: (result) => assert.equal(result, 'opened') });
  isolate.dispose();
});

test('createSnapshot: memoryLimit, timeout and offsets are checked before a worker starts', async () => {
  for (const [name, options] of [
    ['memoryLimit', (value) => [[{ code: '1' }], undefined, { memoryLimit: value }]],
    ['timeout', (value) => [[{ code: '1' }], undefined, { timeout: value }]],
    ['lineOffset', (value) => [[{ code: '1', lineOffset: value }]]],
  ]) {
    const accepts = name === 'timeout' ? inTimeoutRange : name === 'memoryLimit' ? whole(8, 2 ** 33 - 1) : whole(-(2 ** 31), 2 ** 31 - 1);
    for (const value of [...EDGES, ...WRONG_TYPES]) {
      if (typeof value === 'number' && accepts(value)) continue; // a worker per value would be slow
      assert.throws(() => ivm.Isolate.createSnapshot(...options(value)), typeof value === 'number' ? RangeError : TypeError);
    }
  }
});

test('a panic in the addon is a thrown Error, and Node lives on', () => {
  const native = require(require.resolve('../../bindings/node/ivm.node'));
  // Debug builds only (what the suite runs); every export catches panics
  // alike (tests/tidy.rs checks each has `catch_unwind`).
  assert.equal(typeof native._panicForTesting, 'function');
  assert.throws(() => native._panicForTesting(), { name: 'Error', message: 'a panic in the addon, on purpose' });
  const context = new ivm.Isolate().createContextSync();
  assert.equal(context.evalSync('6 * 7'), 42);
});
