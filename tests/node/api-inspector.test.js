'use strict';
// The inspector: isolated-vm's `createInspectorSession()` driven with real
// DevTools protocol messages (breakpoints, paused frames, console
// messages), and ivm's `startInspectorServer()` driven by a real WebSocket
// client.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const ivm = require('../../bindings/node');
const { within, Protocol, overWebSocket, WAIT_MS } = require('./support/devtools');

// An isolate with the inspector, and an inspected context in it.
function inspected(name = 'main') {
  const isolate = new ivm.Isolate({ inspector: true, memoryLimit: 32 });
  return { isolate, context: isolate.createContextSync({ inspector: true, name }) };
}

// A session of `isolate` and a protocol client over it.
function open(isolate) {
  const session = isolate.createInspectorSession();
  const client = new Protocol((text) => session.dispatchProtocolMessage(text));
  session.onResponse = (callId, message) => client.receive(message, callId);
  session.onNotification = (message) => client.receive(message);
  return { session, client };
}

// Runs a script file in a child Node with `flags`; resolves with its exit
// code and output.
function runNode(flags, args) {
  return new Promise((resolve) => {
    const options = { timeout: WAIT_MS * 2, env: { ...process.env, NODE_OPTIONS: '' } };
    execFile(process.execPath, [...flags, ...args], options, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

const CALC = 'function calc(x) {\n  const doubled = x * 2;\n  return doubled + 1;\n}\ncalc(20);\n';

test('a breakpoint pauses a script, whose variables can be read before it resumes', async () => {
  const { isolate, context } = inspected('calculator');
  try {
    const { session, client } = open(isolate);
    await client.call('Runtime.enable');
    const created = await client.event('Runtime.executionContextCreated');
    assert.equal(created.context.name, 'calculator');
    await client.call('Debugger.enable');
    await client.call('Debugger.setBreakpointByUrl', { url: 'calc.js', lineNumber: 2 });

    const script = isolate.compileScriptSync(CALC, { filename: 'calc.js' });
    const running = script.run(context);
    assert.ok(running instanceof Promise);
    const paused = await client.event('Debugger.paused');
    assert.equal(paused.hitBreakpoints.length, 1, JSON.stringify(paused));
    const frame = paused.callFrames[0];
    assert.equal(frame.functionName, 'calc');
    assert.equal(frame.location.lineNumber, 2);
    const read = await client.call('Debugger.evaluateOnCallFrame', {
      callFrameId: frame.callFrameId,
      expression: 'doubled',
    });
    assert.equal(read.result.value, 40);
    await client.call('Debugger.resume');
    assert.equal(await within(running, 'the script to finish'), 41);
    session.dispose();
  } finally {
    isolate.dispose();
  }
});

test('console messages reach onNotification, and contexts made later are announced', async () => {
  const isolate = new ivm.Isolate({ inspector: true });
  try {
    const { session, client } = open(isolate);
    await client.call('Runtime.enable');
    const context = await isolate.createContext({ inspector: true, name: 'late' });
    assert.equal((await client.event('Runtime.executionContextCreated')).context.name, 'late');
    await context.eval("console.log('hello', 42)");
    const logged = await client.event('Runtime.consoleAPICalled');
    assert.equal(logged.type, 'log');
    assert.deepEqual(
      logged.args.map((arg) => arg.value),
      ['hello', 42],
    );
    session.dispose();
  } finally {
    isolate.dispose();
  }
});

test('disposing of a session resumes the JavaScript it paused, and silences it', async () => {
  const { isolate, context } = inspected();
  try {
    const { session, client } = open(isolate);
    await client.call('Debugger.enable');
    const running = context.eval("debugger; 'finished'");
    await client.event('Debugger.paused');
    let heard = 0;
    session.onResponse = () => ++heard;
    session.onNotification = () => ++heard;
    session.dispose();
    session.dispose();
    assert.equal(await within(running, 'the eval to resume'), 'finished');
    await context.eval("console.log('after')");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(heard, 0, 'no handler is called after dispose()');
  } finally {
    isolate.dispose();
  }
});

test('the messages of a synchronous call arrive once it has returned', async () => {
  // Node's thread runs a synchronous call itself, so its handlers cannot
  // run before the call returns: a pause there ends only with its timeout.
  const { isolate, context } = inspected();
  try {
    const { session, client } = open(isolate);
    await client.call('Debugger.enable');
    let during = 0;
    session.onNotification = (message) => {
      ++during;
      client.receive(message);
    };
    assert.throws(() => context.evalSync('debugger; 1', { timeout: 200 }), ivm.TimeoutError);
    assert.equal(during, 0);
    assert.equal((await client.event('Debugger.paused')).reason, 'other');
    await client.call('Debugger.disable');
    assert.equal(context.evalSync('debugger; 2'), 2);
    session.dispose();
  } finally {
    isolate.dispose();
  }
});

test('handlers are read when a message arrives, with the session as this', async () => {
  const { isolate } = inspected();
  try {
    const session = isolate.createInspectorSession();
    // The defaults do nothing.
    assert.equal(typeof session.onResponse, 'function');
    assert.equal(typeof session.onNotification, 'function');
    const answered = new Promise((resolve) => {
      session.onResponse = function (callId, message) {
        resolve({ self: this, callId, message: JSON.parse(message) });
      };
    });
    session.dispatchProtocolMessage(JSON.stringify({ id: 7, method: 'Runtime.enable' }));
    const { self, callId, message } = await within(answered, 'the response');
    assert.equal(self, session);
    assert.equal(callId, 7);
    assert.deepEqual(message, { id: 7, result: {} });
    session.dispose();
  } finally {
    isolate.dispose();
  }
});

test('an exception thrown by a handler is an uncaught exception', async () => {
  const source = `
    const ivm = require(${JSON.stringify(path.resolve(__dirname, '../../bindings/node'))});
    const isolate = new ivm.Isolate({ inspector: true });
    // The session does not keep the process alive; this does until then.
    const waiting = setTimeout(() => console.log('no exception'), ${WAIT_MS});
    process.on('uncaughtException', (error) => {
      console.log('uncaught: ' + error.message);
      clearTimeout(waiting);
      isolate.dispose();
    });
    const session = isolate.createInspectorSession();
    session.onResponse = () => { throw new Error('from the handler'); };
    session.dispatchProtocolMessage('{"id":1,"method":"Runtime.enable"}');
  `;
  const run = await runNode([], ['-e', source]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^uncaught: from the handler$/m);
});

test('sessions are refused, and misuse throws', async () => {
  const plain = new ivm.Isolate();
  assert.throws(() => plain.createInspectorSession(), {
    name: 'Error',
    code: 'ERR_IVM_USAGE',
    message: /Inspector is not enabled for this isolate/,
  });
  assert.throws(() => plain.startInspectorServer(), ivm.UsageError);
  // Without the isolate's inspector, an inspected context has no one to
  // show it to (isolated-vm's own check is the isolate's).
  assert.equal(plain.createContextSync({ inspector: true }).evalSync('1'), 1);
  plain.dispose();

  const { isolate } = inspected();
  const session = isolate.createInspectorSession();
  assert.throws(() => session.dispatchProtocolMessage(42), TypeError);
  session.dispose();
  assert.throws(() => session.dispatchProtocolMessage('{"id":1,"method":"Runtime.enable"}'), ivm.ReleasedError);
  const orphan = isolate.createInspectorSession();
  isolate.dispose();
  assert.throws(() => orphan.dispatchProtocolMessage('{}'), ivm.DisposedError);
  orphan.dispose();
  assert.throws(() => isolate.createInspectorSession(), ivm.DisposedError);
  assert.throws(() => isolate.startInspectorServer(), ivm.DisposedError);

  const other = new ivm.Isolate();
  for (const name of [42, {}]) {
    assert.throws(() => other.createContextSync({ name }), { name: 'TypeError', message: '`name` must be a string' });
    await assert.rejects(other.createContext({ name }), TypeError);
  }
  other.dispose();
});

test('the WebSocket server is served to a real WebSocket client', async () => {
  if (typeof globalThis.WebSocket === 'function') {
    await overWebSocket();
    return;
  }
  // Node 20 has its WebSocket client behind a flag: the same scenario, in a
  // child Node that has it.
  const run = await runNode(['--experimental-websocket'], [path.join(__dirname, 'support/devtools.js')]);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /^inspected over a WebSocket$/m, run.stderr);
});

test('the server takes the port asked for, and a port in use is an IoError', () => {
  const { isolate } = inspected();
  const server = isolate.startInspectorServer();
  try {
    assert.throws(() => isolate.startInspectorServer(server.port), {
      name: 'Error',
      code: 'ERR_IVM_IO',
      message: new RegExp(`127\\.0\\.0\\.1:${server.port}`),
    });
    assert.ok(new ivm.IoError('x') instanceof ivm.IvmError);
    for (const port of [-1, 65536, 1.5, NaN]) {
      assert.throws(() => isolate.startInspectorServer(port), {
        name: 'RangeError',
        message: `\`port\` must be a whole number from 0 to 65535, not ${port}`,
      });
    }
    assert.throws(() => isolate.startInspectorServer('9229'), { name: 'TypeError', message: '`port` must be a number' });
    server.close();
    // Its port is free again once it is closed; reading it still works.
    const again = isolate.startInspectorServer(server.port);
    assert.equal(again.port, server.port);
    again.close();
    server.close();
  } finally {
    server.close();
    isolate.dispose();
  }
});

test('a pool takes the inspector option for its isolates', () => {
  const pool = new ivm.IsolatePool({ size: 1, inspector: true, memoryLimit: 32 });
  const checkout = pool.checkoutSync();
  checkout.isolate.createInspectorSession().dispose();
  checkout.release();
});

test('a context shows its origin (node:vm\'s option) to the inspector', async () => {
  const isolate = new ivm.Isolate({ inspector: true, memoryLimit: 32 });
  try {
    isolate.createContextSync({ inspector: true, name: 'app', origin: 'https://example.com' });
    const { session, client } = open(isolate);
    await client.call('Runtime.enable');
    const created = await client.event('Runtime.executionContextCreated');
    assert.equal(created.context.name, 'app');
    assert.equal(created.context.origin, 'https://example.com');
    session.dispose();
    assert.throws(() => isolate.createContextSync({ origin: 42 }), { name: 'TypeError', message: '`origin` must be a string' });
  } finally {
    isolate.dispose();
  }
});
