'use strict';
// The cross-language conformance cases (tests/conformance/cases.json, which
// the Rust and Python suites run too), through the Node addon's
// isolated-vm API.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const ivm = require('../../bindings/node');
const { conformanceHostObject } = require('./support/helpers');

const cases = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'conformance', 'cases.json'), 'utf8'));

// A case's input as the Node value that crosses as it.
function fromTagged(value) {
  if (Array.isArray(value)) return value.map(fromTagged);
  if (value === null || typeof value !== 'object') return value;
  if ('$bigint' in value) return BigInt(value.$bigint);
  if ('$date' in value) return new Date(value.$date);
  if ('$map' in value) return new Map(value.$map.map(([key, item]) => [fromTagged(key), fromTagged(item)]));
  if ('$set' in value) return new Set(value.$set.map(fromTagged));
  if ('$arraybuffer' in value) return new Uint8Array(value.$arraybuffer).buffer;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fromTagged(item)]));
}

// Whether a result is the Node value an expectation stands for.
function matches(actual, expected) {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((item, i) => matches(actual[i], item));
  }
  if (expected === null || typeof expected !== 'object') return Object.is(actual, expected) || (typeof expected === 'number' && actual === expected);
  if ('$undefined' in expected) return actual === undefined;
  if ('$number' in expected) return Object.is(actual, Number(expected.$number));
  if ('$bigint' in expected) return actual === BigInt(expected.$bigint);
  if ('$date' in expected) return actual instanceof Date && actual.getTime() === expected.$date;
  if ('$map' in expected) {
    return actual instanceof Map && actual.size === expected.$map.length &&
      expected.$map.every(([key, item]) => actual.has(fromTagged(key)) && matches(actual.get(fromTagged(key)), item));
  }
  if ('$set' in expected) {
    return actual instanceof Set && actual.size === expected.$set.length && expected.$set.every((item) => actual.has(fromTagged(item)));
  }
  if ('$arraybuffer' in expected) {
    return actual instanceof ArrayBuffer && matches([...new Uint8Array(actual)], expected.$arraybuffer);
  }
  if ('$uint8array' in expected) return actual instanceof Uint8Array && matches([...actual], expected.$uint8array);
  if ('$error' in expected) {
    return actual instanceof Error && actual.name === expected.$error.name && actual.message === expected.$error.message;
  }
  const keys = Object.keys(expected);
  return actual !== null && typeof actual === 'object' && matches(Object.keys(actual), keys) &&
    keys.every((key) => matches(actual[key], expected[key]));
}

function checkError(error, throws) {
  if (throws.class === 'JsError') {
    assert.ok(error instanceof Error && !(error instanceof ivm.IvmError), `a JavaScript error, got ${error}`);
  } else {
    assert.ok(error instanceof ivm[throws.class], `a ${throws.class}, got ${error}`);
  }
  if (throws.name !== undefined) assert.equal(error.name, throws.name);
  if (throws.message !== undefined) assert.equal(error.message, throws.message);
}


for (const spec of cases) {
  test(`${spec.suite}: ${spec.name}`, async () => {
    const options = spec.options ?? {};
    const isolate = new ivm.Isolate(options.memory_limit_mb ? { memoryLimit: options.memory_limit_mb } : {});
    try {
      const context = isolate.createContextSync();
      context.global.setSync('host', new ivm.Callback((...args) => `host:${args.length}`));
      context.global.setSync('hostThrows', new ivm.Callback(() => { throw new Error('from host'); }));
      context.global.setSync('hostLog', new ivm.Reference(function log(...args) { return args.length; }));
      context.global.setSync('hostObject', new ivm.Reference(conformanceHostObject()));
      const transfer = { copy: Boolean(options.copy), promise: Boolean(options.promise) };
      const timeout = options.timeout_ms;
      const run = () => 'input' in spec
        ? context.evalClosure(spec.code, [fromTagged(spec.input)], { timeout, arguments: { copy: true }, result: transfer })
        : context.eval(spec.code, { timeout, ...transfer });
      if ('throws' in spec) {
        await assert.rejects(run(), (error) => {
          checkError(error, spec.throws);
          return true;
        });
      } else {
        const result = await run();
        assert.ok(matches(result, spec.expect), `expected ${JSON.stringify(spec.expect)}, got ${String(result)}`);
      }
      if (spec.after === 'usable') assert.equal(context.evalSync('1 + 1'), 2);
      if (spec.after === 'disposed') assert.equal(isolate.isDisposed, true);
    } finally {
      if (!isolate.isDisposed) isolate.dispose();
    }
  });
}
