'use strict';
// ivm for Node: isolated-vm's API over ivm's Rust core. The classes come
// from the native addon (ivm.node, built by `cargo xtask node`); this file
// completes them with isolated-vm's method names and option objects, and
// does Node's side of copying values (Node's own v8.Serializer writes the
// bytes that ivm reads, and v8.Deserializer reads the bytes ivm writes).

const path = require('node:path');
const v8 = require('node:v8');

// The addon file, by its absolute path: snapshot workers load this one.
const addonPath = require.resolve(process.env.IVM_NODE_ADDON || path.join(__dirname, 'ivm.node'));
const native = require(addonPath);
const { Isolate, Context, Script, Module, Reference, ExternalCopy, Callback, ExternalCopyInto, Library } = native;
const { IsolatePool, PooledIsolate, InspectorSession, InspectorServer } = native;

// The three forms of every operation, as the native methods take them.
const SYNC = 0;
const ASYNC = 1;
const IGNORED = 2;

// How results leave an isolate (see bindings/node/src/convert.rs), packed
// with the form and two switches into one number per call
// (bindings/node/src/forms.rs: CallFlags).
const RESULT_TRANSFERABLE = 0; // primitives, else undefined (eval, run)
const RESULT_OR_REFERENCE = 1; // primitives, else a Reference (apply, get)
const RESULT_COPY = 2;
const RESULT_EXTERNAL_COPY = 3;
const RESULT_REFERENCE = 4;

const FOLLOW_PROMISE = 8;
const ACCESSORS = 64;

function flags(mode, promise, form, accessors) {
  return mode | (promise ? FOLLOW_PROMISE : 0) | (form << 4) | (accessors ? ACCESSORS : 0);
}

// Errors: each kind of failure has its own class. Their `name` stays
// "Error", as isolated-vm's errors are plain Errors, so messages and stack
// traces read the same; `code` and `instanceof` tell them apart.
// The classes and their codes are ivm-core's (`ErrorClass`), the same in
// every front-end.
class IvmError extends Error {}
const errorClasses = { IvmError };
for (const [name, code] of native._errorClasses()) {
  const cls = { [name]: class extends IvmError {} }[name];
  Object.defineProperty(cls.prototype, 'code', { value: code });
  errorClasses[name] = cls;
}
for (const cls of Object.values(errorClasses)) {
  Object.defineProperty(cls.prototype, 'name', { value: 'Error', configurable: true, writable: true });
}
Object.defineProperty(IvmError.prototype, 'code', { value: 'ERR_IVM' });

// Node's side of copies.
function serialize(value) {
  const serializer = new v8.Serializer();
  serializer.writeHeader();
  serializer.writeValue(value);
  return serializer.releaseBuffer();
}

function deserialize(bytes, arrayBuffers) {
  const deserializer = new v8.Deserializer(bytes);
  deserializer.readHeader();
  for (let id = 0; id < arrayBuffers.length; ++id) {
    deserializer.transferArrayBuffer(id, arrayBuffers[id]);
  }
  return deserializer.readValue();
}

function settle(value, done) {
  Promise.resolve(value).then(
    (result) => done(false, result),
    (error) => done(true, error),
  );
}

// The newest V8 serialization format this Node reads (15 up to Node 22).
function readerVersion() {
  try {
    new v8.Deserializer(Buffer.from([0xff, 16, 0x5f])).readHeader();
    return 16;
  } catch {
    return 15;
  }
}

// What ivm-core's rule for References to Node values asks of Node objects
// (bindings/node/src/host.rs), none of which runs the object's own code.
// Taken now, so that a program changing the built-ins later cannot change
// what a Reference grants.
const { isProxy } = require('node:util').types;
const { getOwnPropertyDescriptor, getPrototypeOf, defineProperty, deleteProperty } = Reflect;
const hostObjects = {
  isProxy,
  // 0: no such own property; 1: an accessor; [value]: a data property.
  ownProperty(object, key) {
    const descriptor = getOwnPropertyDescriptor(object, key);
    if (descriptor === undefined) return 0;
    return 'value' in descriptor ? [descriptor.value] : 1;
  },
  prototypeOf: (object) => getPrototypeOf(object),
  // isolated-vm's set: delete, then create a data property (no setter runs).
  define(object, key, value) {
    deleteProperty(object, key);
    return defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  },
};

// `noop` is called now and then while a synchronous call runs: a Node
// that is terminating this thread (worker.terminate()) refuses to run it,
// and the call stops so the thread can go.
native._init({ serialize, deserialize, settle, hostObjects, errors: errorClasses, noop() {} }, readerVersion());

function isPrimitive(value) {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

function options(value) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object') throw new TypeError('`options` must be an object');
  return value;
}

// TransferOptions: at most one of copy, externalCopy and reference, with
// promise combinable.
function transferMode(transfer, fallback) {
  if (transfer === undefined) return fallback;
  const set = (transfer.copy ? 1 : 0) + (transfer.externalCopy ? 1 : 0) + (transfer.reference ? 1 : 0);
  if (set > 1) throw new TypeError('Only one of `copy`, `externalCopy` or `reference` may be set');
  if (transfer.copy) return RESULT_COPY;
  if (transfer.externalCopy) return RESULT_EXTERNAL_COPY;
  if (transfer.reference) return RESULT_REFERENCE;
  return fallback;
}

// The library object itself crosses as this handle (see `transferIn`).
const libraryHandle = new Library();

function isTransferable(value) {
  return (
    isPrimitive(value) ||
    value === module.exports ||
    value instanceof Isolate ||
    value instanceof Context ||
    value instanceof Script ||
    value instanceof Reference ||
    value instanceof ExternalCopy ||
    value instanceof ExternalCopyInto ||
    value instanceof Callback
  );
}

// A value on its way into an isolate, as TransferOptions `transfer` say.
function transferIn(value, transfer) {
  if (typeof value === 'symbol') throw new TypeError('A non-transferable value was passed');
  const mode = transferMode(transfer, undefined);
  if (mode === RESULT_COPY) return isPrimitive(value) ? value : serialize(value);
  if (mode === RESULT_EXTERNAL_COPY) return new ExternalCopy(value).copyInto();
  if (mode === RESULT_REFERENCE) return value instanceof Reference ? value : new Reference(value);
  if (value === module.exports) return libraryHandle;
  if (isTransferable(value)) return value;
  if (typeof value === 'function') return new Callback(value);
  throw new TypeError('A non-transferable value was passed');
}

function transferArguments(args, transfer) {
  if (args === undefined) return [];
  if (!Array.isArray(args)) throw new TypeError('`arguments` must be an array');
  if (transfer === undefined) {
    // Primitives, the common case, go as they are.
    let i = 0;
    while (i < args.length && isPrimitive(args[i]) && typeof args[i] !== 'symbol') i++;
    if (i === args.length) return args;
  }
  return args.map((arg) => transferIn(arg, transfer));
}

// A numeric option: a number or nothing (undefined or null), else a
// TypeError naming it. Its range is checked by the addon, with ivm-core's
// rules (a RangeError naming it).
function numberOption(value, name) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw new TypeError(`\`${name}\` must be a number`);
  return value;
}

function timeoutOf(opts) {
  return numberOption(opts.timeout, 'timeout');
}

function code(value) {
  if (typeof value !== 'string') throw new TypeError('`code` must be a string');
  return value;
}

// Makes a call in the form asked for. A synchronous call with
// `promise: true` gives a Promise, as isolated-vm's does (ivm settles the
// promise in the same call when it can).
function finish(form, promise, call) {
  if (form !== SYNC || !promise) return call();
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error);
  }
}

function rejectCall(call) {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}

// Isolate
Object.defineProperties(Isolate.prototype, {
  createContextSync: { value(opts) { return this._createContext(SYNC, ...contextOptions(opts)); } },
  createContext: { value(opts) { return rejectCall(() => this._createContext(ASYNC, ...contextOptions(opts))); } },
  compileScriptSync: { value(source, opts) { return compileScript(this, source, opts, SYNC); } },
  compileScript: { value(source, opts) { return rejectCall(() => compileScript(this, source, opts, ASYNC)); } },
  compileModuleSync: { value(source, opts) { return compileModule(this, source, opts, SYNC); } },
  compileModule: { value(source, opts) { return rejectCall(() => compileModule(this, source, opts, ASYNC)); } },
  getHeapStatisticsSync: { value() { return this._heapStatistics(SYNC); } },
  getHeapStatistics: { value() { return rejectCall(() => this._heapStatistics(ASYNC)); } },
  createInspectorSession: { value() { return createInspectorSession(this); } },
  startInspectorServer: { value(port) { return this._startInspectorServer(inspectorPort(port)); } },
});
// Isolate.createSnapshot(scripts, warmupScript): the scripts run in a
// snapshot worker, a Node process started from this Node's binary that
// loads this addon file and serves the request (bindings/node/src/snapshot.rs).
// ivm adds a third argument isolated-vm ignores, `{ memoryLimit, timeout }`,
// the worker's limits (ivm-core's defaults: 128 MB and 10 s).
Isolate.createSnapshot = function createSnapshot(scripts, warmupScript, opts) {
  if (!Array.isArray(scripts)) throw new TypeError('`scripts` must be an array');
  const checked = scripts.map(snapshotScript);
  if (warmupScript !== undefined && typeof warmupScript !== 'string') {
    throw new TypeError('`warmupScript` must be a string');
  }
  const o = options(opts);
  const memoryLimit = numberOption(o.memoryLimit, 'memoryLimit');
  return native._createSnapshot(checked, warmupScript, memoryLimit, timeoutOf(o), snapshotWorker, snapshotWorkerEnv);
};

function snapshotScript(script) {
  if (script === null || typeof script !== 'object') throw new TypeError('Each script must be an object');
  const { filename } = script;
  if (filename !== undefined && typeof filename !== 'string') throw new TypeError('`filename` must be a string');
  const lineOffset = numberOption(script.lineOffset, 'lineOffset');
  const columnOffset = numberOption(script.columnOffset, 'columnOffset');
  return { code: code(script.code), filename, lineOffset, columnOffset };
}

// The snapshot worker's command: this Node, with no flags of the parent's
// (NODE_OPTIONS emptied: a preloaded module or an inspector there would
// get in the way), loading this addon file.
const snapshotWorker = [
  process.execPath,
  '-e',
  `process.exitCode = require(${JSON.stringify(addonPath)})._snapshotWorker();`,
];
const snapshotWorkerEnv = ['NODE_OPTIONS', '', 'ELECTRON_RUN_AS_NODE', '1'];

function optionalBoolean(value, name) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new TypeError(`\`${name}\` must be a boolean`);
  return value;
}

// createContext's options: node:vm's `codeGeneration: { strings, wasm }`
// (both allowed unless false), isolated-vm's `inspector` (read as isolated-vm
// reads it, truthy or not) and node:vm's `name` (the context's name in the
// inspector), as `_createContext`'s arguments after the form.
function contextOptions(opts) {
  const o = options(opts);
  const { codeGeneration: generation, name } = o;
  if (name !== undefined && typeof name !== 'string') throw new TypeError('`name` must be a string');
  let strings;
  let wasm;
  if (generation !== undefined && generation !== null) {
    if (typeof generation !== 'object') throw new TypeError('`codeGeneration` must be an object');
    strings = optionalBoolean(generation.strings, 'codeGeneration.strings');
    wasm = optionalBoolean(generation.wasm, 'codeGeneration.wasm');
  }
  return [strings, wasm, Boolean(o.inspector), name];
}

// CachedDataOptions, as the compile methods' arguments: `cachedData` (an
// ExternalCopy of an ArrayBuffer, checked by the addon) and
// `produceCachedData`.
function cachedData(o) {
  const data = o.cachedData === null ? undefined : o.cachedData;
  return [data, optionalBoolean(o.produceCachedData, 'produceCachedData')];
}

// ScriptOrigin's numbers, as the compile methods take them.
function offsets(o) {
  return [numberOption(o.lineOffset, 'lineOffset'), numberOption(o.columnOffset, 'columnOffset')];
}

function compileScript(isolate, source, opts, form) {
  const o = options(opts);
  const [data, produce] = cachedData(o);
  return isolate._compileScript(code(source), o.filename, ...offsets(o), data, produce, form);
}

function compileModule(isolate, source, opts, form) {
  const o = options(opts);
  // isolated-vm's `meta` callback runs inside the isolate, so it can only
  // be given by code in that isolate, never from Node.
  if (o.meta !== undefined) throw new errorClasses.UsageError('`meta` callback must belong to entered isolate');
  const [data, produce] = cachedData(o);
  return isolate._compileModule(code(source), o.filename, ...offsets(o), data, produce, form);
}

// isolated-vm's eval and evalClosure take CachedDataOptions too, check
// them, and then neither consume nor produce a cache (the result is the
// value alone). ivm's eval compiles with a script's `cachedData` given to
// it; evalClosure checks it the same way and has no cache to use it with.
function checkEvalCachedData(o) {
  const [data] = cachedData(o);
  if (data !== undefined) native._checkCachedData(data);
}

// Context
const globals = new WeakMap();
Object.defineProperties(Context.prototype, {
  global: {
    get() {
      let global = globals.get(this);
      if (global === undefined) {
        global = this._global();
        globals.set(this, global);
      }
      return global;
    },
  },
  evalSync: { value(source, opts) { return evaluate(this, source, opts, SYNC); } },
  eval: { value(source, opts) { return rejectCall(() => evaluate(this, source, opts, ASYNC)); } },
  evalIgnored: { value(source, opts) { evaluate(this, source, opts, IGNORED); } },
  evalClosureSync: { value(source, args, opts) { return evalClosure(this, source, args, opts, SYNC); } },
  evalClosure: { value(source, args, opts) { return rejectCall(() => evalClosure(this, source, args, opts, ASYNC)); } },
  evalClosureIgnored: { value(source, args, opts) { evalClosure(this, source, args, opts, IGNORED); } },
});

function evaluate(context, source, opts, form) {
  if (typeof source !== 'string') throw new TypeError('`code` must be a string');
  if (opts === undefined) return context._eval(source, flags(RESULT_TRANSFERABLE, false, form, false));
  const o = options(opts);
  const [data] = cachedData(o);
  const bits = flags(transferMode(o, RESULT_TRANSFERABLE), o.promise, form, false);
  const timeout = timeoutOf(o);
  const [lineOffset, columnOffset] = offsets(o);
  const call = () => context._eval(source, bits, timeout, o.filename, lineOffset, columnOffset, data);
  return finish(form, o.promise, call);
}

function evalClosure(context, source, args, opts, form) {
  const o = options(opts);
  checkEvalCachedData(o);
  const result = o.result || {};
  const bits = flags(transferMode(result, RESULT_TRANSFERABLE), result.promise, form, false);
  const transferred = transferArguments(args, o.arguments);
  const timeout = timeoutOf(o);
  const call = () => context._evalClosure(code(source), transferred, bits, timeout, o.filename);
  return finish(form, result.promise, call);
}

// Script
Object.defineProperties(Script.prototype, {
  runSync: { value(context, opts) { return runScript(this, context, opts, SYNC); } },
  run: { value(context, opts) { return rejectCall(() => runScript(this, context, opts, ASYNC)); } },
  runIgnored: { value(context, opts) { runScript(this, context, opts, IGNORED); } },
});

function runScript(script, context, opts, form) {
  if (!(context instanceof Context)) throw new TypeError('`context` must be a Context');
  const o = options(opts);
  const bits = flags(transferMode(o, RESULT_TRANSFERABLE), o.promise, form, false);
  const timeout = timeoutOf(o);
  try {
    const call = () => script._run(context, bits, timeout);
    return finish(form, o.promise, call);
  } finally {
    if (o.release) script.release();
  }
}

// Reference. One to a Node value (`new ivm.Reference(value, options)`) is
// served by the addon's `_host…` methods, under ivm-core's rule of what it
// grants; one into an isolate by the other methods.
const hostness = new WeakMap();
function isHost(reference) {
  let host = hostness.get(reference);
  if (host === undefined) {
    host = reference._isHost;
    hostness.set(reference, host);
  }
  return host;
}

function hostCall(form, call) {
  if (form === SYNC) return call();
  if (form === IGNORED) {
    Promise.resolve().then(call).catch(() => {});
    return undefined;
  }
  return Promise.resolve().then(call);
}

function get(reference, key, opts, form) {
  const o = options(opts);
  const bits = flags(transferMode(o, RESULT_OR_REFERENCE), o.promise, form, o.accessors);
  if (isHost(reference)) return hostCall(form, () => reference._hostGet(key, bits));
  const timeout = timeoutOf(o);
  const call = () => reference._get(key, bits, timeout);
  return finish(form, o.promise, call);
}

function set(reference, key, value, opts, form) {
  const o = options(opts);
  if (isHost(reference)) return hostCall(form, () => reference._hostSet(key, value));
  return reference._set(key, transferIn(value, o), timeoutOf(o), form);
}

function del(reference, key, form) {
  if (isHost(reference)) return hostCall(form, () => reference._hostDelete(key));
  return reference._delete(key, form);
}

function apply(reference, receiver, args, opts, form) {
  if (opts === undefined && !isHost(reference)) {
    const target = receiver === undefined ? undefined : transferIn(receiver, undefined);
    return reference._apply(target, transferArguments(args, undefined), flags(RESULT_OR_REFERENCE, false, form, false));
  }
  const o = options(opts);
  const result = o.result || {};
  const bits = flags(transferMode(result, RESULT_OR_REFERENCE), result.promise, form, false);
  if (isHost(reference)) {
    if (args !== undefined && !Array.isArray(args)) throw new TypeError('`arguments` must be an array');
    return hostCall(form, () => reference._hostApply(receiver, args || [], bits));
  }
  const transferred = transferArguments(args, o.arguments);
  const target = transferIn(receiver, undefined);
  const timeout = timeoutOf(o);
  const call = () => reference._apply(target, transferred, bits, timeout);
  return finish(form, result.promise, call);
}

function copy(reference, form) {
  if (isHost(reference)) return hostCall(form, () => structuredClone(reference._hostValue()));
  return reference._copy(form);
}

Object.defineProperties(Reference.prototype, {
  deref: {
    value(opts) {
      if (!this._isHost) throw new errorClasses.UsageError('Cannot dereference this from current isolate');
      const value = this._hostValue();
      if (options(opts).release) this.release();
      return value;
    },
  },
  derefInto: {
    value(opts) {
      if (this._isHost) throw new errorClasses.UsageError('Cannot dereference this into target isolate');
      const into = this._derefInto();
      if (options(opts).release) this.release();
      return into;
    },
  },
  copySync: { value() { return copy(this, SYNC); } },
  copy: { value() { return rejectCall(() => copy(this, ASYNC)); } },
  getSync: { value(key, opts) { return get(this, key, opts, SYNC); } },
  get: { value(key, opts) { return rejectCall(() => get(this, key, opts, ASYNC)); } },
  setSync: { value(key, value, opts) { return set(this, key, value, opts, SYNC); } },
  set: { value(key, value, opts) { return rejectCall(() => set(this, key, value, opts, ASYNC)); } },
  setIgnored: { value(key, value, opts) { set(this, key, value, opts, IGNORED); } },
  deleteSync: { value(key) { return del(this, key, SYNC); } },
  delete: { value(key) { return rejectCall(() => del(this, key, ASYNC)); } },
  deleteIgnored: { value(key) { del(this, key, IGNORED); } },
  applySync: { value(receiver, args, opts) { return apply(this, receiver, args, opts, SYNC); } },
  apply: { value(receiver, args, opts) { return rejectCall(() => apply(this, receiver, args, opts, ASYNC)); } },
  applyIgnored: { value(receiver, args, opts) { apply(this, receiver, args, opts, IGNORED); } },
  applySyncPromise: {
    value() {
      throw new errorClasses.UsageError('This function may only be invoked from a non-default thread');
    },
  },
});

// ExternalCopy
Object.defineProperty(ExternalCopy, 'totalExternalSize', {
  get: () => native.totalExternalSize(),
  enumerable: true,
});

// Module. The resolver of `instantiate` is called by the addon (on Node's
// thread), with the referrer as the object it returned for it.
const namespaces = new WeakMap();
Object.defineProperties(Module.prototype, {
  namespace: {
    get() {
      let namespace = namespaces.get(this);
      if (namespace === undefined) {
        namespace = this._namespace();
        namespaces.set(this, namespace);
      }
      return namespace;
    },
  },
  instantiateSync: { value(context, resolve) { return instantiate(this, context, resolve, SYNC); } },
  instantiate: { value(context, resolve) { return rejectCall(() => instantiate(this, context, resolve, ASYNC)); } },
  evaluateSync: { value(opts) { return this._evaluate(timeoutOf(options(opts)), SYNC); } },
  evaluate: { value(opts) { return rejectCall(() => this._evaluate(timeoutOf(options(opts)), ASYNC)); } },
});

function instantiate(module, context, resolve, form) {
  if (!(context instanceof Context)) throw new TypeError('`context` must be a Context');
  if (typeof resolve !== 'function') throw new TypeError('`resolveCallback` must be a function');
  return module._instantiate(context, resolve, form);
}

// InspectorSession, as isolated-vm's: the addon calls `deliver` on Node's
// thread with each message of the inspector, which goes to the session's
// `onResponse(callId, message)` or `onNotification(message)`, read at that
// moment so that they can be assigned any time. Their defaults do nothing.
function createInspectorSession(isolate) {
  const session = isolate._createInspectorSession((message, callId) => {
    const handler = callId === undefined ? session.onNotification : session.onResponse;
    if (typeof handler !== 'function') return;
    try {
      if (callId === undefined) handler.call(session, message);
      else handler.call(session, callId, message);
    } catch (error) {
      // As from any event handler: an uncaught exception, thrown outside
      // the addon's call (which may be inside a synchronous call of ivm's).
      process.nextTick(() => {
        throw error;
      });
    }
  });
  return session;
}

Object.defineProperties(InspectorSession.prototype, {
  dispatchProtocolMessage: {
    value(message) {
      if (typeof message !== 'string') throw new TypeError('`message` must be a string');
      this._dispatch(message);
    },
  },
  onResponse: { value() {}, writable: true },
  onNotification: { value() {}, writable: true },
});

// startInspectorServer's port: 0 (the default) takes a free one.
function inspectorPort(port) {
  return numberOption(port, 'port') ?? 0;
}

// IsolatePool (ivm's own; isolated-vm has none): isolates booted ahead of
// time, each with a context. `checkoutSync()` takes a ready one at once, or
// blocks Node's thread until one is booted when all are out; `checkout()`
// never blocks: ivm-core serves waiting checkouts in order as it boots.
// A checkout's `isolate` and `context` keep it from being garbage
// collected (which hands it back, as `release()` does).
const checkouts = new WeakMap(); // PooledIsolate -> { isolate, context }
const checkoutOf = new WeakMap(); // its Isolate and Context -> PooledIsolate

function checkedOut(pooled) {
  const parts = { isolate: pooled._isolate(), context: pooled._context() };
  checkouts.set(pooled, parts);
  checkoutOf.set(parts.isolate, pooled);
  checkoutOf.set(parts.context, pooled);
  return pooled;
}

Object.defineProperties(IsolatePool.prototype, {
  checkoutSync: { value() { return checkedOut(this._checkout()); } },
  checkout: { value() { return rejectCall(() => this._checkoutAsync()).then(checkedOut); } },
});

Object.defineProperties(PooledIsolate.prototype, {
  isolate: { get() { return checkouts.get(this).isolate; } },
  context: { get() { return checkouts.get(this).context; } },
});

module.exports = {
  Isolate,
  Context,
  Script,
  Module,
  Reference,
  ExternalCopy,
  Callback,
  IsolatePool,
  PooledIsolate,
  InspectorSession,
  InspectorServer,
  ...errorClasses,
};
module.exports.default = module.exports;
