'use strict';
// Helpers shared by the Node suite's files (not a test file itself).
const { Worker } = require('node:worker_threads');
const ivm = require('../../../bindings/node');

// Resolves once `check` holds (work posted to Node's event loop runs on a
// later turn of it), or fails after a second.
async function eventually(check) {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > 1000) throw new Error(`never happened: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// A fresh isolate with a small memory limit, and a context in it.
function fresh() {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  return { isolate, context: isolate.createContextSync() };
}

// A worker thread running `code` (CommonJS, `require` available), resolved
// with the first message it posts.
function runWorker(code, workerData) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData });
    let message;
    worker.once('message', (m) => {
      message = m;
    });
    worker.once('error', reject);
    worker.once('exit', (exitCode) => {
      if (message === undefined) reject(new Error(`worker exited with ${exitCode} without a message`));
      else if (message && message.error) reject(new Error(`in the worker: ${message.error}`));
      else resolve({ message, exitCode });
    });
  });
}

// The object the conformance cases reach through `hostObject`
// (tests/conformance/README.md).
function conformanceHostObject() {
  const object = Object.create({ inherited: 'inherited' });
  Object.assign(object, {
    name: 'box',
    data: { n: 1 },
    list: [1, 2],
    method() {
      return 'method';
    },
    generator: (function* generate() {
      yield 1;
    })(),
  });
  Object.defineProperty(object, 'secret', { get: () => 'secret', enumerable: true });
  return object;
}

module.exports = { conformanceHostObject, eventually, fresh, runWorker };
