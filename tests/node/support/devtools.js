'use strict';
// A small Chrome DevTools protocol client for the inspector's tests (not a
// test file itself), and the WebSocket server's scenario. Run as a script,
// it plays that scenario and prints "inspected over a WebSocket": on a Node
// without a global WebSocket (Node 20) api-inspector.test.js runs it so, in
// a child Node started with `--experimental-websocket`.
const assert = require('node:assert/strict');
const ivm = require('../../../bindings/node');

// How long any one wait may take before the test fails instead of hanging.
const WAIT_MS = 20_000;

// `promise`, or a failure naming `what` once `ms` have passed.
function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Requests with ids, their responses matched to them, and events kept until
// asked for. `send` carries a message to the inspector; whatever carries
// the inspector's messages back hands each to `receive`.
class Protocol {
  constructor(send) {
    this.send = send;
    this.nextId = 1;
    this.calls = new Map();
    this.events = [];
    this.waiters = [];
  }

  // A response (`callId` is the session's, where there is one) or an event.
  receive(text, callId) {
    const message = JSON.parse(text);
    if (message.id !== undefined) {
      const call = this.calls.get(message.id);
      this.calls.delete(message.id);
      if (callId !== undefined && callId !== message.id) {
        call?.reject(new Error(`response ${message.id} came with call id ${callId}`));
      } else if (message.error) {
        call?.reject(new Error(`${call.method} failed: ${JSON.stringify(message.error)}`));
      } else {
        call?.resolve(message.result);
      }
      return;
    }
    const waiter = this.waiters.findIndex((w) => w.method === message.method);
    if (waiter === -1) this.events.push(message);
    else this.waiters.splice(waiter, 1)[0].resolve(message.params);
  }

  // The result of `method`.
  call(method, params = {}) {
    const id = this.nextId++;
    const answered = new Promise((resolve, reject) => this.calls.set(id, { method, resolve, reject }));
    this.send(JSON.stringify({ id, method, params }));
    return within(answered, `the response to ${method}`);
  }

  // The params of the first `method` event not yet taken.
  event(method) {
    const at = this.events.findIndex((e) => e.method === method);
    if (at !== -1) return Promise.resolve(this.events.splice(at, 1)[0].params);
    return within(new Promise((resolve) => this.waiters.push({ method, resolve })), `the ${method} event`);
  }
}

// The WebSocket server: discovery over HTTP, then a real WebSocket client
// that pauses at `debugger`, reads a variable and resumes.
async function overWebSocket() {
  const isolate = new ivm.Isolate({ inspector: true });
  const context = isolate.createContextSync({ inspector: true, name: 'served' });
  const server = isolate.startInspectorServer(0);
  try {
    assert.equal(typeof server.port, 'number');
    assert.ok(server.port > 0);
    assert.ok(server.webSocketUrl.startsWith(`ws://127.0.0.1:${server.port}/`), server.webSocketUrl);
    assert.ok(server.devtoolsUrl.startsWith('devtools://devtools/'), server.devtoolsUrl);
    assert.ok(server.devtoolsUrl.includes(server.webSocketUrl.slice('ws://'.length)), server.devtoolsUrl);

    const listed = await within(
      fetch(`http://127.0.0.1:${server.port}/json/list`).then((response) => response.json()),
      '/json/list',
    );
    assert.equal(listed[0].webSocketDebuggerUrl, server.webSocketUrl);

    const socket = new WebSocket(server.webSocketUrl);
    await within(
      new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = () => reject(new Error('the WebSocket failed to open'));
      }),
      'the WebSocket to open',
    );
    const client = new Protocol((text) => socket.send(text));
    socket.onmessage = (event) => client.receive(event.data);
    try {
      await client.call('Debugger.enable');
      const running = context.eval('let secret = 7;\ndebugger;\nsecret * 6');
      const paused = await client.event('Debugger.paused');
      const callFrameId = paused.callFrames[0].callFrameId;
      const read = await client.call('Debugger.evaluateOnCallFrame', { callFrameId, expression: 'secret' });
      assert.equal(read.result.value, 7);
      await client.call('Debugger.resume');
      assert.equal(await within(running, 'the eval to finish'), 42);
    } finally {
      socket.close();
    }
  } finally {
    server.close();
    server.close();
    isolate.dispose();
  }
}

module.exports = { within, Protocol, overWebSocket, WAIT_MS };

if (require.main === module) {
  overWebSocket().then(
    () => console.log('inspected over a WebSocket'),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
