'use strict';
// Runs one memory attack, the JavaScript in argv[2], in a 32 MiB isolate of
// this (fresh) process, given the library as `ivm`, and prints as JSON how
// the call ended, the process's peak growth over its baseline and what
// stayed resident after dispose, in MiB: the measurement tests/hardening.rs
// makes in Rust.
const fs = require('node:fs');
const ivm = require('../../../bindings/node');

const statusMib = (field) =>
  Number(fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'))[1]) / 1024;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resident size once it is at most `enough` or has stopped falling (up to
// 5 s): the isolate is torn down on another thread.
async function settledRss(enough) {
  let last = Infinity;
  for (const deadline = Date.now() + 5000; ; ) {
    const now = statusMib('VmRSS');
    if (now <= enough || Math.abs(last - now) < 0.5 || Date.now() > deadline) return now;
    last = now;
    await sleep(200);
  }
}

async function main() {
  // V8's process-wide set-up (its worker threads, their arenas) is part of
  // the baseline, not of the attack.
  const warm = new ivm.Isolate({ memoryLimit: 32 });
  warm.createContextSync().evalSync('const a = []; for (let i = 0; i < 3e5; i++) a.push({ i }); a.length');
  warm.dispose();
  await sleep(1000);
  const baseline = await settledRss(-Infinity);
  fs.writeFileSync('/proc/self/clear_refs', '5');
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  context.global.setSync('ivm', ivm);
  let outcome = 'completed';
  try {
    context.evalSync(process.argv[2], { timeout: 60000 });
  } catch (error) {
    outcome = error.constructor.name;
  }
  const peak = statusMib('VmHWM');
  if (!isolate.isDisposed) isolate.dispose();
  const after = await settledRss(baseline + 16);
  console.log(JSON.stringify({ outcome, peak: peak - Math.min(baseline, after), returned: Math.max(0, after - baseline) }));
}

main();
