'use strict';
// Helpers shared by the Node suite's files (not a test file itself).
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

module.exports = { eventually, fresh };
