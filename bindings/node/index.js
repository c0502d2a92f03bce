'use strict';
// ivm for Node: isolated-vm's API over ivm's Rust core. The classes come
// from the native addon (ivm.node, built by `cargo xtask node`); this file
// completes them with isolated-vm's method names and option objects, and
// does Node's side of copying values (Node's own v8.Serializer writes the
// bytes that ivm reads, and v8.Deserializer reads the bytes ivm writes).

const path = require('node:path');
const v8 = require('node:v8');

// The addon file, by its absolute path: snapshot workers load this one.
const addonPath = findAddon();
const native = require(addonPath);

// Where the native addon is: IVM_NODE_ADDON if set; else one built from
// source beside this file (`cargo xtask node`); else the platform package
// that npm installed from `optionalDependencies` (`ivm-linux-x64-gnu`, …,
// napi-rs's layout, made by `cargo xtask dist`).
function findAddon() {
  if (process.env.IVM_NODE_ADDON) return require.resolve(process.env.IVM_NODE_ADDON);
  const built = path.join(__dirname, 'ivm.node');
  if (require('node:fs').existsSync(built)) return built;
  const platform = platformName();
  const name = `ivm-${platform}`;
  try {
    return require.resolve(`${name}/ivm.node`);
  } catch {
    throw new Error(
      `ivm: no native addon for ${platform} (Node ${process.version}): neither ${built} nor the package ${name} ` +
        `is installed. npm installs ${name} with ivm where one is published for this platform; ` +
        'otherwise build ivm from source: `cargo xtask node` in a clone of its repository (see its README).',
    );
  }
}

// napi-rs's platform names: os-cpu, and the C library on Linux.
function platformName() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}${process.platform === 'win32' ? '-msvc' : ''}`;
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
  const glibc = report?.header?.glibcVersionRuntime !== undefined;
  return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`;
}
// Node keeps one addon per process, and this file completes its classes
// and freezes their prototypes. Evaluated again (Jest evaluates it anew for
// every test file, in a module registry of its own), it gives the API it
// made the first time: the same classes, whose methods throw the same
// error classes.
const API = Symbol.for('ivm.api');
if (native[API] !== undefined) {
  module.exports = native[API];
  return;
}
const { Isolate, Context, Script, Module, Reference, ExternalCopy, Callback, ExternalCopyInto, Library } = native;
const { IsolatePool, PooledIsolate, InspectorSession, InspectorServer } = native;

// The three forms of every operation, as the native methods take them.
const SYNC = 0;
const ASYNC = 1;
const IGNORED = 2;

// The methods' option objects go to the addon as they are: it reads each
// option where it is used (bindings/node/src/options.rs). This file reads
// only what is Node's side of a call: how Node values are copied into an
// isolate (TransferOptions of arguments and values), and whether a
// synchronous call with `promise` gives a Promise.

// Errors: each kind of failure has its own class. Their `name` stays
// "Error", as isolated-vm's errors are plain Errors, so messages and stack
// traces read the same; `code` and `instanceof` tell them apart.
// TransferError is the exception: isolated-vm's failures to copy a value
// are TypeErrors (V8's DataCloneError), so it is a TypeError named so, and
// still an IvmError to `instanceof`.
// The classes and their codes are ivm-core's (`ErrorClass`), the same in
// every front-end.
class IvmError extends Error {
  static [Symbol.hasInstance](value) {
    return Function.prototype[Symbol.hasInstance].call(this, value) ||
      (this === IvmError && Function.prototype[Symbol.hasInstance].call(errorClasses.TransferError, value));
  }
}
const errorClasses = { IvmError };
for (const [name, code] of native._errorClasses()) {
  const base = name === 'TransferError' ? TypeError : IvmError;
  const cls = { [name]: class extends base {} }[name];
  Object.defineProperty(cls.prototype, 'code', { value: code });
  errorClasses[name] = cls;
}
for (const cls of Object.values(errorClasses)) {
  const name = cls === errorClasses.TransferError ? 'TypeError' : 'Error';
  Object.defineProperty(cls.prototype, 'name', { value: name, configurable: true, writable: true });
}
Object.defineProperty(IvmError.prototype, 'code', { value: 'ERR_IVM' });

// Node's side of copies. A SharedArrayBuffer is written as an id, and
// listed beside the bytes (as a view of its memory, which the addon reads):
// ivm shares its memory rather than copying it.
class SharingSerializer extends v8.Serializer {
  _getSharedArrayBufferId(buffer) {
    const shared = (this.shared ??= new Map());
    let id = shared.get(buffer);
    if (id === undefined) shared.set(buffer, (id = shared.size));
    return id;
  }
}

function serialize(value) {
  const serializer = new SharingSerializer();
  serializer.writeHeader();
  try {
    serializer.writeValue(value);
  } catch (error) {
    // Node's serializer raises V8's DataCloneError as a plain Error; a value
    // with no copy is a TransferError (a TypeError, as in isolated-vm).
    if (error instanceof Error && / could not be cloned\.$/.test(error.message)) {
      throw new errorClasses.TransferError(error.message);
    }
    throw error;
  }
  const bytes = serializer.releaseBuffer();
  if (serializer.shared) bytes.shared = Array.from(serializer.shared.keys(), (buffer) => new Uint8Array(buffer));
  return bytes;
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

// A function of an isolate, as it comes out of the isolate (isolated-vm 4
// and later): a Node function with its name and length that calls it
// synchronously through `call` (the addon's), its arguments copied in and
// its result copied out. An arrow function, so that `this` is not passed
// and `new` throws, as with isolated-vm's.
function functionOf(call, name, length) {
  const fn = { [name]: (...args) => call(args.map(copyArgument)) }[name];
  defineProperty(fn, 'length', { value: length });
  return fn;
}

// The frames of the code calling into the addon, past this file's own: what
// an error thrown out of a synchronous call continues its stack with. Given
// a stack (a Node error's, going into an isolate), that stack without this
// file's frames.
function hostStack(stack) {
  let lines;
  if (stack === undefined) {
    const holder = {};
    Error.captureStackTrace(holder);
    lines = holder.stack.split('\n').slice(1);
  } else {
    lines = String(stack).split('\n');
  }
  return lines.filter((frame) => !frame.includes(__filename)).join('\n');
}

// An argument of such a call: copied, unless it is one of the library's
// transferable handles. A function has no copy.
function copyArgument(value) {
  if (value === module.exports) return libraryHandle;
  if (isTransferable(value)) return value;
  if (typeof value === 'function') throw new TypeError(`${value} could not be cloned.`);
  return serialize(value);
}

native._init(
  {
    serialize,
    deserialize,
    settle,
    hostObjects,
    errors: errorClasses,
    // Called now and then while a synchronous call runs: a Node that is
    // terminating this thread (worker.terminate()) refuses to run it, and
    // the call stops so the thread can go.
    noop() {},
    functionOf,
    library: () => module.exports,
    hostStack,
  },
  readerVersion(),
  process.execArgv,
);

function isPrimitive(value) {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

function options(value) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object') throw new TypeError('`options` must be an object');
  return value;
}

// How a Node value goes into an isolate, as TransferOptions say: at most
// one of `copy`, `externalCopy` and `reference`.
function transferMode(transfer) {
  if (transfer === undefined || transfer === null) return undefined;
  const set = (transfer.copy ? 1 : 0) + (transfer.externalCopy ? 1 : 0) + (transfer.reference ? 1 : 0);
  if (set > 1) throw new TypeError('Only one of `copy`, `externalCopy`, or `reference` may be set');
  if (transfer.copy) return 'copy';
  if (transfer.externalCopy) return 'externalCopy';
  if (transfer.reference) return 'reference';
  return undefined;
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
  const mode = transferMode(transfer);
  if (mode === 'copy') return isPrimitive(value) ? value : serialize(value);
  if (mode === 'externalCopy') return new ExternalCopy(value).copyInto();
  if (mode === 'reference') return value instanceof Reference ? value : new Reference(value);
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

function code(value) {
  if (typeof value !== 'string') throw new TypeError('`code` must be a string');
  return value;
}

// Whether `value`, a call's options, asks for `promise` (on its own or in
// its `result`).
function promised(value) {
  return value !== null && typeof value === 'object' && Boolean(value.promise);
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

// The CPU profiles come from the addon as JSON text.
const parseJson = JSON.parse;

function rejectCall(call) {
  let promise;
  try {
    promise = call();
  } catch (error) {
    return Promise.reject(error);
  }
  // Where the call was made, for an exception from the isolate to continue
  // its stack with, as a synchronous call's does (and isolated-vm's async
  // calls'); V8 formats it only if it is read.
  const caller = {};
  Error.captureStackTrace(caller, rejectCall);
  return promise.then(undefined, (error) => {
    throw continued(error, caller);
  });
}

const STACK_BOUNDARY = native._stackBoundary();

// `error`, an async call's failure, with its stack continued by the caller's
// frames past the boundary line, if it is an exception from the isolate.
// A timeout's stack ends at the boundary line, awaiting them; ivm's other
// errors have no isolate frames to continue.
function continued(error, caller) {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return error;
  const open = error.stack.endsWith(STACK_BOUNDARY);
  if (error instanceof IvmError && !open) return error;
  const frames = hostStack(caller.stack).split('\n').slice(1).join('\n');
  const boundary = open ? '' : `\n${STACK_BOUNDARY}`;
  try {
    error.stack = `${error.stack}${boundary}${frames ? `\n${frames}` : ''}`;
  } catch {
    // A frozen error keeps its stack.
  }
  return error;
}

// Isolate
Object.defineProperties(Isolate.prototype, {
  createContextSync: { value(opts) { return this._createContext(SYNC, opts); } },
  createContext: { value(opts) { return rejectCall(() => this._createContext(ASYNC, opts)); } },
  compileScriptSync: { value(source, opts) { return compileScript(this, source, opts, SYNC); } },
  compileScript: { value(source, opts) { return rejectCall(() => compileScript(this, source, opts, ASYNC)); } },
  compileModuleSync: { value(source, opts) { return compileModule(this, source, opts, SYNC); } },
  compileModule: { value(source, opts) { return rejectCall(() => compileModule(this, source, opts, ASYNC)); } },
  getHeapStatisticsSync: { value() { return this._heapStatistics(SYNC); } },
  getHeapStatistics: { value() { return rejectCall(() => this._heapStatistics(ASYNC)); } },
  // isolated-vm's stopCpuProfiler throws at once for a disposed isolate.
  stopCpuProfiler: { value(title) { return this._stopCpuProfiler(title, ASYNC).then(parseJson); } },
  createInspectorSession: { value() { return createInspectorSession(this); } },
  startInspectorServer: { value(port) { return this._startInspectorServer(inspectorPort(port)); } },
});
// Isolate.createSnapshot(scripts, warmupScript): the scripts run in a
// snapshot worker, a Node process started from this Node's binary that
// loads this addon file and serves the request (bindings/node/src/snapshot.rs).
// ivm adds a third argument isolated-vm ignores, `{ memoryLimit, timeout }`,
// the worker's limits (ivm-core's defaults: 128 MB and 10 s).
Isolate.createSnapshot = function createSnapshot(scripts, warmupScript, opts) {
  return native._createSnapshot(scripts, warmupScript, opts, snapshotWorker, snapshotWorkerEnv);
};

// The snapshot worker's command: this Node, with no flags of the parent's
// (NODE_OPTIONS emptied: a preloaded module or an inspector there would
// get in the way), loading this addon file.
const snapshotWorker = [
  process.execPath,
  '-e',
  `process.exitCode = require(${JSON.stringify(addonPath)})._snapshotWorker();`,
];
const snapshotWorkerEnv = ['NODE_OPTIONS', '', 'ELECTRON_RUN_AS_NODE', '1'];

function compileScript(isolate, source, opts, form) {
  return isolate._compileScript(code(source), form, opts);
}

function compileModule(isolate, source, opts, form) {
  // isolated-vm's `meta` callback runs inside the isolate, so it can only
  // be given by code in that isolate, never from Node.
  if (opts && opts.meta !== undefined) throw new errorClasses.UsageError('`meta` callback must belong to entered isolate');
  return isolate._compileModule(code(source), form, opts);
}

// isolated-vm's eval and evalClosure take CachedDataOptions too, check
// them, and then neither consume nor produce a cache (the result is the
// value alone). ivm's eval compiles with a script's `cachedData` given to
// it; evalClosure checks it the same way and has no cache to use it with.
function checkEvalCachedData(o) {
  if (o.cachedData !== undefined && o.cachedData !== null) native._checkCachedData(o.cachedData);
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
  if (opts === undefined) return context._eval(source, form);
  return finish(form, promised(opts), () => context._eval(source, form, opts));
}

function evalClosure(context, source, args, opts, form) {
  const o = options(opts);
  checkEvalCachedData(o);
  const transferred = transferArguments(args, o.arguments);
  return finish(form, promised(o.result), () => context._evalClosure(code(source), transferred, form, opts));
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
  try {
    return finish(form, o.promise, () => script._run(context, form, opts));
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
  if (isHost(reference)) return hostCall(form, () => reference._hostGet(key, opts));
  return finish(form, promised(opts), () => reference._get(key, form, opts));
}

function set(reference, key, value, opts, form) {
  const o = options(opts);
  if (isHost(reference)) return hostCall(form, () => reference._hostSet(key, value));
  return reference._set(key, transferIn(value, o), form, opts);
}

function del(reference, key, form) {
  if (isHost(reference)) return hostCall(form, () => reference._hostDelete(key));
  return reference._delete(key, form);
}

function apply(reference, receiver, args, opts, form) {
  if (opts === undefined && !isHost(reference)) {
    const target = receiver === undefined ? undefined : transferIn(receiver, undefined);
    return reference._apply(target, transferArguments(args, undefined), form);
  }
  const o = options(opts);
  if (isHost(reference)) {
    if (args !== undefined && !Array.isArray(args)) throw new TypeError('`arguments` must be an array');
    return hostCall(form, () => reference._hostApply(receiver, args || [], opts));
  }
  const transferred = transferArguments(args, o.arguments);
  const target = transferIn(receiver, undefined);
  return finish(form, promised(o.result), () => reference._apply(target, transferred, form, opts));
}

function copy(reference, form) {
  if (isHost(reference)) {
    return hostCall(form, () => {
      const value = reference._hostValue();
      if (typeof value === 'symbol') throw new TypeError('Unsupported type');
      return structuredClone(value);
    });
  }
  return reference._copy(form);
}

Object.defineProperties(Reference.prototype, {
  deref: {
    value(opts) {
      if (!this._isHost) throw new TypeError('Cannot dereference this from current isolate');
      const value = this._hostValue();
      if (options(opts).release) this.release();
      return value;
    },
  },
  derefInto: {
    value(opts) {
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
  evaluateSync: { value(opts) { return this._evaluate(SYNC, opts); } },
  evaluate: { value(opts) { return rejectCall(() => this._evaluate(ASYNC, opts)); } },
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
  if (port === undefined || port === null) return 0;
  if (typeof port !== 'number') throw new TypeError('`port` must be a number');
  return port;
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

// isolated-vm's classes and their prototypes are frozen (the constructors
// themselves are not: `Isolate.createSnapshot` lives there).
for (const cls of [Isolate, Context, Script, Module, Reference, ExternalCopy, ExternalCopyInto, Callback]) {
  Object.freeze(cls.prototype);
}

// The exported constructors, as isolated-vm's: called without `new` they
// throw, and they check their arguments before the addon sees them. A
// Proxy, so that they are the classes themselves in every other way
// (`instanceof`, their statics, instances the addon makes).
function constructor(cls, name, check) {
  const proxy = new Proxy(cls, {
    apply() {
      throw new TypeError(`\`${name}\` must be called with \`new\``);
    },
    construct(target, args, newTarget) {
      check(args);
      return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
    },
  });
  return proxy;
}

function atLeastOne(name, args) {
  if (args.length === 0) throw new TypeError(`\`${name}\` requires at least 1 parameter`);
}

module.exports = {
  Isolate: constructor(Isolate, 'Isolate', (args) => {
    const [options] = args;
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw new TypeError('`Isolate` requires parameter 1 to be an object');
    }
  }),
  Context,
  Script,
  Module,
  Reference: constructor(Reference, 'Reference', (args) => atLeastOne('Reference', args)),
  ExternalCopy: constructor(ExternalCopy, 'ExternalCopy', (args) => {
    atLeastOne('ExternalCopy', args);
    if (typeof args[0] === 'symbol') throw new TypeError('Unsupported type');
    if (typeof args[0] === 'function') throw new TypeError(`${args[0]} could not be cloned.`);
  }),
  Callback: constructor(Callback, 'Callback', (args) => {
    atLeastOne('Callback', args);
    if (typeof args[0] !== 'function') throw new TypeError('`Callback` requires parameter 1 to be a function');
  }),
  IsolatePool,
  PooledIsolate,
  InspectorSession,
  InspectorServer,
  ...errorClasses,
  // node:vm's API over ivm isolates, also `require('ivm/vm')`.
  get vm() {
    return require('./vm.js');
  },
};
module.exports.default = module.exports;
// What `vm.js` builds on, kept off the public API.
Object.defineProperty(module.exports, Symbol.for('ivm.internals'), { value: { Sandbox: native.Sandbox, serialize } });
Object.freeze(module.exports);
Object.defineProperty(native, API, { value: module.exports });
