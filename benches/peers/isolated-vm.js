// The measurements of benches/core.rs and benches/marshal.rs, taken with
// isolated-vm.
// Run by `cargo xtask bench`; prints one JSON object of nanoseconds per op.
'use strict';
const ivm = require('isolated-vm');

function measure(fn, minMillis) {
  for (let i = 0; i < 200; i++) fn(); // warm-up
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(minMillis) * 1000000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 50; i++) fn();
    iterations += 50;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / iterations;
}

async function measureAsync(fn, minMillis) {
  for (let i = 0; i < 200; i++) await fn(); // warm-up
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(minMillis) * 1000000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 50; i++) await fn();
    iterations += 50;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / iterations;
}

(async () => {
const isolate = new ivm.Isolate();
const context = isolate.createContextSync();
const add = context.evalSync('(function add(a, b) { return a + b; })', { reference: true });

const results = {
  'eval 1+2': measure(() => {
    if (context.evalSync('1+2') !== 3) throw new Error('wrong result');
  }, 2000),
  'reference apply(a, b)': measure(() => {
    if (add.applySync(undefined, [1, 2]) !== 3) throw new Error('wrong result');
  }, 2000),
  'async apply round trip': await measureAsync(async () => {
    if (await add.apply(undefined, [1, 2]) !== 3) throw new Error('wrong result');
  }, 2000),
  'isolate create+context+eval+dispose': measure(() => {
    const fresh = new ivm.Isolate();
    const ctx = fresh.createContextSync();
    if (ctx.evalSync('1+2') !== 3) throw new Error('wrong result');
    fresh.dispose();
  }, 3000),
  'marshal/ExternalCopy 64MiB ArrayBuffer': (() => {
    const buffer = new Uint8Array(64 << 20).fill(7).buffer;
    return measure(() => {
      const copy = new ivm.ExternalCopy(buffer);
      copy.release();
    }, 3000);
  })(),
  'marshal/copy 10k objects out and in': (() => {
    const objects = Array.from({ length: 10000 }, (_, i) => ({ id: i, name: 'item ' + i, tags: ['a', 'b', String(i)], v: i * 1.5 }));
    return measure(() => {
      const copy = new ivm.ExternalCopy(objects);
      if (copy.copy().length !== 10000) throw new Error('wrong result');
      copy.release();
    }, 3000);
  })(),
};
console.log(JSON.stringify({ peer: `isolated-vm ${require('isolated-vm/package.json').version}`, node: process.version, results }));
})();
