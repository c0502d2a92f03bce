'use strict';
// Ways Node once hung, each of which must now end in an error (or a result)
// within seconds. Each runs in a child process with a time limit, so that a
// regression fails its test instead of hanging the suite.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');

const addon = JSON.stringify(require.resolve('../../bindings/node'));

// Runs `body` (a script with `ivm` in scope, whose last expression is
// awaited) in a child Node, and resolves with what it prints as JSON.
function inChild(body, timeout = 30_000) {
  const script = `
    const ivm = require(${addon});
    (async () => { ${body} })().then(
      (value) => console.log(JSON.stringify({ value })),
      (error) => console.log(JSON.stringify({ error: error.constructor.name + ': ' + error.message })),
    );`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.killed ? 'hung and was killed' : error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

test('contexts made past the memory limit end in a MemoryLimitError', async () => {
  const { value } = await inChild(`
    const results = [];
    for (const form of ['sync', 'async']) {
      const isolate = new ivm.Isolate({ memoryLimit: 32 });
      const kept = [];
      try {
        for (;;) kept.push(form === 'sync' ? isolate.createContextSync() : await isolate.createContext());
      } catch (error) {
        results.push([error instanceof ivm.MemoryLimitError, isolate.isDisposed, kept.length < 20000]);
      }
    }
    return results;
  `);
  assert.deepEqual(value, [[true, true, true], [true, true, true]]);
});

test('a synchronous call from inside an isolate on that same isolate runs', async () => {
  const { value } = await inChild(`
    const isolate = new ivm.Isolate();
    const context = isolate.createContextSync();
    context.global.setSync('ivm', ivm);
    context.global.setSync('isolate', isolate);
    context.global.setSync('context', context);
    return [
      context.evalSync("isolate.compileScriptSync('6 * 7').runSync(context)", { timeout: 5000 }),
      context.evalSync("globalThis.x = 1; context.evalSync('x + 1')", { timeout: 5000 }),
      await context.eval("isolate.compileScriptSync('6 * 8').runSync(context)", { timeout: 5000 }),
    ];
  `);
  assert.deepEqual(value, [42, 2, 48]);
});

test('dispose from a callback that an async call of the isolate waits for ends that call', async () => {
  const { value } = await inChild(`
    const isolate = new ivm.Isolate();
    const context = isolate.createContextSync();
    context.global.setSync('disposeMe', new ivm.Callback(() => { isolate.dispose(); return 1; }));
    const outcome = await context.eval('disposeMe(); for (;;) {}').then(() => 'finished', (error) => error.message);
    return [outcome, isolate.isDisposed];
  `);
  assert.deepEqual(value, ['Isolate was disposed during execution', true]);
});

test('two isolates disposing each other from inside their calls both end', async () => {
  // Both calls meet on a SharedArrayBuffer, then dispose each other at
  // once; whichever is terminated first may not get to dispose the other.
  // Twenty rounds, so that the two disposals overlap in some of them.
  const { value } = await inChild(`
    const rounds = [];
    for (let round = 0; round < 20; round++) {
      const isolates = [new ivm.Isolate(), new ivm.Isolate()];
      const contexts = isolates.map((isolate) => isolate.createContextSync());
      const met = contexts[0].evalSync('globalThis.met = new SharedArrayBuffer(4)', { externalCopy: true });
      contexts[1].global.setSync('met', met.copyInto());
      contexts.forEach((context, i) => context.global.setSync('other', isolates[1 - i]));
      const code = 'const count = new Int32Array(met); Atomics.add(count, 0, 1); ' +
        'while (Atomics.load(count, 0) < 2); other.dispose(); "done"';
      const outcomes = await Promise.all(contexts.map((context) => context.eval(code).catch((error) => error.message)));
      rounds.push(outcomes.every((outcome) => outcome === 'done' || /disposed/.test(outcome)) &&
        isolates.some((isolate) => isolate.isDisposed));
    }
    return rounds.every(Boolean);
  `);
  assert.equal(value, true);
});

test('eval and new Function of a huge source are refused at once', async () => {
  const { value } = await inChild(`
    const context = new ivm.Isolate({ memoryLimit: 32 }).createContextSync();
    const started = Date.now();
    const refused = [];
    for (const code of ["eval(' '.repeat(4e8) + '1')", "new Function(' '.repeat(4e8) + 'return 1')"]) {
      try { context.evalSync(code, { timeout: 1000 }); } catch (error) { refused.push(error.name + ': ' + error.message); }
    }
    return [refused, Date.now() - started < 20000];
  `, 60_000);
  const [refused, quick] = value;
  assert.equal(refused.length, 2);
  for (const message of refused) {
    // The 400-million-character string itself may be over the limit first.
    assert.match(message, /^(EvalError: Code generation from strings disallowed for this context|Error: Isolate was disposed during execution due to memory limit)$/);
  }
  assert.equal(quick, true);
});

// Issue 22: V8 builtins that loop without checking for termination, and
// errors whose properties loop as the host reads them
// (tests/conformance/hang-vectors.json, which Rust and Python run too).
const hangVectors = JSON.parse(
  require('node:fs').readFileSync(require('node:path').join(__dirname, '..', 'conformance', 'hang-vectors.json'), 'utf8'),
).vectors;

for (const vector of hangVectors) {
  test(`hang: ${vector.name} ends in a ${vector.ends} within its timeout plus a second, sync and async`, async () => {
    const { value } = await inChild(`
      const results = [];
      for (const form of ['sync', 'async']) {
        const context = new ivm.Isolate({ memoryLimit: 32 }).createContextSync();
        const started = Date.now();
        try {
          if (form === 'sync') context.evalSync(${JSON.stringify(vector.code)}, { timeout: 1000 });
          else await context.eval(${JSON.stringify(vector.code)}, { timeout: 1000 });
          results.push([form, 'completed']);
        } catch (error) {
          results.push([form, error.constructor.name, Date.now() - started]);
        }
      }
      results.push(new ivm.Isolate().createContextSync().evalSync('6 * 7'));
      return results;
    `);
    const after = value.pop();
    for (const [form, outcome, elapsed] of value) {
      assert.equal(outcome, vector.ends, form);
      assert.ok(elapsed <= 2000, `${form}: ended after ${elapsed} ms`);
    }
    assert.equal(after, 42, 'the process goes on');
  });
}
