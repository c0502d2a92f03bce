'use strict';
// bindings/node/examples: isolated-vm's two README examples, run unchanged
// (but for their `require` line) as child processes of this Node, with no
// flags, print what isolated-vm's README says they print and exit normally.

const { test } = require('node:test');
const assert = require('node:assert');
const { execFile } = require('node:child_process');
const path = require('node:path');

require('../../bindings/node');

const examples = path.resolve(__dirname, '../../bindings/node/examples');

// Runs an example with this Node and no flags (nor NODE_OPTIONS).
function runExample(name) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(examples, name)],
      { env, timeout: 120_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? error.code : 0, signal: error ? error.signal : null, stdout, stderr });
      },
    );
  });
}

function show(run) {
  return `exit ${run.code} (signal ${run.signal})\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

test('log-sandbox.js logs from the isolate, then the memory limit stops the hostile script', async () => {
  const run = await runExample('log-sandbox.js');
  assert.strictEqual(run.code, 0, show(run));
  assert.strictEqual(run.signal, null, show(run));
  const lines = run.stdout.split('\n').filter((line) => line !== '');
  assert.strictEqual(lines[0], 'hello world', show(run));
  const wasted = lines.slice(1).map((line) => {
    const match = /^I've wasted (\d+)MB$/.exec(line);
    assert.ok(match, `unexpected line ${JSON.stringify(line)}\n${show(run)}`);
    return Number(match[1]);
  });
  // 2MB more each time, from 2MB until the 128MB limit stops it (isolated-vm
  // stops it at about 132MB; the limit is a guideline, not exact).
  assert.ok(wasted.length >= 16, `only ${wasted.length} "I've wasted" lines\n${show(run)}`);
  wasted.forEach((mb, i) => assert.strictEqual(mb, 2 * (i + 1), show(run)));
  assert.ok(wasted[wasted.length - 1] <= 3 * 128, show(run));
  // `hostile.run(context).catch(err => console.error(err))`: a memory-limit
  // error, reported once, after the last line.
  const reported = run.stderr.trim();
  assert.match(reported, /memory limit/i, show(run));
  assert.strictEqual(reported.split('\n').filter((line) => /memory limit/i.test(line)).length, 1, show(run));
});

test('parallel-sum.js gets the same sum on one thread and across four isolates', async () => {
  const run = await runExample('parallel-sum.js');
  assert.strictEqual(run.code, 0, show(run));
  assert.strictEqual(run.signal, null, show(run));
  assert.strictEqual(run.stderr, '', show(run));
  const lines = run.stdout.split('\n').filter((line) => line !== '');
  assert.strictEqual(lines.length, 2, show(run));
  for (const line of lines) assert.match(line, /^Calculated 9007199187632128 in \d+ms$/, show(run));
});

test('from-node-vm.js runs node:vm code in isolates: sandboxes, escapes, timeouts and memory bombs end as it says', async () => {
  const run = await runExample('from-node-vm.js');
  assert.strictEqual(run.code, 0, show(run));
  const lines = run.stdout.split('\n').filter((line) => line !== '');
  assert.deepStrictEqual(
    lines,
    [
      "{ animal: 'cat', count: 3, name: 'kitty' }",
      '[sandbox] added 40',
      '[sandbox] added 2',
      'total: 42',
      'escape: ReferenceError process is not defined',
      'timeout: ERR_SCRIPT_EXECUTION_TIMEOUT',
      'memory: MemoryLimitError',
      'vm2-style: 42',
    ],
    show(run),
  );
});

