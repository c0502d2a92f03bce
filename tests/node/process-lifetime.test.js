'use strict';
// How ivm affects the life of the Node process, checked in child processes:
// once no work is left the process exits by itself (without disposing of
// its isolates), and while async work is pending it stays alive until the
// work is done.

const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

require('../../bindings/node');

const addon = path.resolve(__dirname, '../../bindings/node');

// Runs `source` as a script of its own in a child Node (no flags), which
// finds the addon as `ivm`. Resolves with its exit, its output, and how long
// after its "done" line (if any) it exited. Killed after `limitMs`.
async function runChild(source, limitMs = 20_000) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ivm-lifetime-'));
  const file = path.join(dir, 'child.js');
  fs.writeFileSync(file, `'use strict';\nconst ivm = require(${JSON.stringify(addon)});\n${source}`);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  try {
    return await new Promise((resolve) => {
      const started = Date.now();
      const child = spawn(process.execPath, [file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let doneAt = null;
      let killed = false;
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (doneAt === null && /^done$/m.test(stdout)) doneAt = Date.now();
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, limitMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const exitedAt = Date.now();
        resolve({
          code,
          signal,
          killed,
          stdout,
          stderr,
          elapsedMs: exitedAt - started,
          afterDoneMs: doneAt === null ? null : exitedAt - doneAt,
        });
      });
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function show(run) {
  return `exit ${run.code} (signal ${run.signal}${run.killed ? ', killed by the test' : ''}) after ${run.elapsedMs}ms\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

// The child exited by itself, with code 0, soon after printing "done".
function assertExitsSoonAfterDone(run) {
  assert.strictEqual(run.killed, false, `the process did not exit by itself\n${show(run)}`);
  assert.strictEqual(run.code, 0, show(run));
  assert.notStrictEqual(run.afterDoneMs, null, `no "done" line\n${show(run)}`);
  assert.ok(run.afterDoneMs < 3000, `exited ${run.afterDoneMs}ms after "done"\n${show(run)}`);
}

test('the process exits by itself once async ivm work is done, without dispose', async () => {
  const run = await runChild(`
    (async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 32, onCatastrophicError: (m) => console.log(m) });
      const context = await isolate.createContext();
      const results = [];
      results.push(await context.eval('6 * 7'));
      const script = await isolate.compileScript('(function (a, b) { return a * b; })');
      const multiply = await script.run(context, { reference: true });
      results.push(await multiply.apply(undefined, [6, 7]));
      await context.global.set('inc', new ivm.Callback((x) => x + 1));
      await context.global.set('later', new ivm.Callback(async (x) => x + 2, { async: true }));
      await context.global.set('host', new ivm.Reference({ n: 5 }));
      await context.global.set('copy', new ivm.ExternalCopy({ list: [1, 2] }).copyInto());
      results.push(await context.eval('inc(41)'));
      results.push(await context.eval('later(40)', { promise: true }));
      results.push(await context.eval('host.get("n")', { promise: true }));
      results.push(await context.eval('copy.list.length'));
      results.push(await (await context.global.get('copy')).copy());
      results.push(await context.eval('for (;;);', { timeout: 20 }).catch((e) => e.code));
      const other = await new ivm.Isolate().createContext();
      results.push(await other.evalClosure('return $0 * 2', [21]));
      console.log(JSON.stringify(results));
      console.log('done');
    })();
  `);
  assertExitsSoonAfterDone(run);
  assert.deepStrictEqual(JSON.parse(run.stdout.split('\n')[0]), [42, 42, 42, 42, 5, 2, { list: [1, 2] }, 'ERR_IVM_TIMEOUT', 42]);
});

test('the process exits by itself after synchronous ivm work', async () => {
  const run = await runChild(`
    const context = new ivm.Isolate().createContextSync();
    const answer = context.evalSync('6 * 7');
    context.global.setSync('log', new ivm.Callback((x) => console.log('logged', x)));
    context.evalSync('log(answer)'.replace('answer', answer));
    console.log('done');
  `);
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^logged 42$/m);
});

test('the process exits by itself after an isolate breached its memory limit', async () => {
  const run = await runChild(`
    const context = new ivm.Isolate({ memoryLimit: 16 }).createContextSync();
    context.eval('const keep = []; for (;;) keep.push(new Array(1e5).fill(1))').catch((e) => {
      console.log(e instanceof ivm.MemoryLimitError);
      console.log('done');
    });
  `);
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^true$/m);
});

test('the process exits by itself after worker threads used ivm', async () => {
  const run = await runChild(`
    const { Worker } = require('node:worker_threads');
    const code = 'const ivm = require(' + JSON.stringify(${JSON.stringify(addon)}) + ');' +
      'const { parentPort } = require("node:worker_threads");' +
      'new ivm.Isolate().createContext().then((c) => c.eval("6 * 7")).then((v) => parentPort.postMessage(v));';
    const run = () => new Promise((resolve) => new Worker(code, { eval: true }).once('message', resolve));
    Promise.all([run(), run()]).then((values) => {
      console.log(values.join(','));
      console.log('done');
    });
  `);
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^42,42$/m);
});

test('the process exits by itself with an inspector session and server still open', async () => {
  const run = await runChild(`
    const isolate = new ivm.Isolate({ inspector: true });
    const context = isolate.createContextSync({ inspector: true });
    const session = isolate.createInspectorSession();
    session.onNotification = (message) => {
      if (JSON.parse(message).method === 'Runtime.consoleAPICalled') console.log('notified');
    };
    session.dispatchProtocolMessage('{"id":1,"method":"Runtime.enable"}');
    const server = isolate.startInspectorServer(0);
    context.eval('console.log(1)').then(() => setTimeout(() => {
      console.log('listening ' + (server.port > 0));
      console.log('done');
    }, 100));
  `);
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^notified\nlistening true$/m, show(run));
});

test('the process stays alive for an async Callback awaited with promise: true', async () => {
  // Nothing but ivm keeps the process alive between the eval's start and
  // the Callback's call, and between the Callback's result and the eval's.
  const run = await runChild(`
    const context = new ivm.Isolate().createContextSync();
    const slow = new ivm.Callback(() => new Promise((resolve) => setTimeout(() => resolve(42), 300)), { async: true });
    context.global.setSync('slow', slow);
    const started = Date.now();
    context.eval('slow().then((value) => value + 1)', { promise: true }).then((value) => {
      console.log('result ' + value);
      console.log('waited ' + (Date.now() - started));
      console.log('done');
    });
  `);
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^result 43$/m, show(run));
  assert.ok(Number(/^waited (\d+)$/m.exec(run.stdout)[1]) >= 290, show(run));
});

test('the process stays alive while an isolate computes', async () => {
  const run = await runChild(`
    const isolate = new ivm.Isolate();
    const context = isolate.createContextSync();
    const busy = 'const end = Date.now() + 400; let n = 0; while (Date.now() < end) ++n; n > 0';
    context.eval(busy).then((value) => console.log('eval ' + value));
    const fn = context.evalSync('(function () { ' + busy.replace('n > 0', 'return n > 0') + ' })', { reference: true });
    fn.apply(undefined, []).then((value) => {
      console.log('apply ' + value);
      console.log('done');
    });
  `);
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^eval true\napply true\n/m, show(run));
  assert.ok(run.elapsedMs >= 800, show(run));
});

test(
  'the process stays alive for work queued with evalIgnored',
  async () => {
    const run = await runChild(`
      const context = new ivm.Isolate().createContextSync();
      context.global.setSync('report', new ivm.Callback((value) => {
        console.log('reported ' + value);
        console.log('done');
      }));
      context.evalIgnored('const end = Date.now() + 300; while (Date.now() < end); report(7)');
    `);
    assertExitsSoonAfterDone(run);
    assert.match(run.stdout, /^reported 7$/m);
  },
);

test('a promise that nothing can settle does not keep the process alive', async () => {
    const run = await runChild(
      `
      const context = new ivm.Isolate().createContextSync();
      context.eval('new Promise(() => {})', { promise: true }).then(
        (value) => console.log('settled ' + value),
        (error) => console.log('rejected ' + error.message),
      );
      console.log('done');
    `,
    5000,
  );
  assertExitsSoonAfterDone(run);
});

test('a promise that nothing settles, followed with a timeout, keeps the process alive until the timeout rejects it', async () => {
  const run = await runChild(
    `
      const context = new ivm.Isolate().createContextSync();
      const started = Date.now();
      const report = (form) => (error) => console.log(form + ' rejected after ' + (Date.now() - started >= 150) + ': ' + error.message);
      context.eval('new Promise(() => {})', { promise: true, timeout: 150 }).catch(report('async'));
      context.evalSync('new Promise(() => {})', { promise: true, timeout: 200 }).catch(report('sync')).then(() => console.log('done'));
    `,
    5000,
  );
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^async rejected after true: Script execution timed out\.$/m);
  assert.match(run.stdout, /^sync rejected after true: Script execution timed out\.$/m);
});

test('a call waiting on a promise that Node settles later keeps the process alive until it does', async () => {
  const run = await runChild(
    `
      const context = new ivm.Isolate().createContextSync();
      context.global.setSync('later', new ivm.Reference(() => new Promise((resolve) => setTimeout(() => resolve(42), 200))));
      context.eval('later.apply(undefined, [], { result: { promise: true } })', { promise: true }).then(
        (value) => { console.log('settled ' + value); console.log('done'); },
        (error) => console.log('rejected ' + error.message),
      );
    `,
    5000,
  );
  assertExitsSoonAfterDone(run);
  assert.match(run.stdout, /^settled 42$/m);
});
