'use strict';
// `require('ivm/vm')`: node:vm's API, with an ivm isolate under every
// context. A program switches by changing its `require('vm')`; from then on
// the code it runs has a heap of its own with a memory limit, a timeout,
// and no path to Node's objects.
//
// node:vm "contextifies" an object: the object itself is the context's
// global. Here the context lives in another isolate, so the object's own
// properties are copied in as its globals before every run, and every
// global that the code created, changed or deleted is written back onto the
// object after it (ivm-core's `Sandbox`). Functions go in as callbacks
// (also inside objects, such as `console`); the rest goes in as copies.
// README ("node:vm over ivm") lists what differs from node:vm, and why.

const ivm = require('./index.js');

const { Sandbox, serialize } = ivm[Symbol.for('ivm.internals')];

// Contextified objects, and the isolate and sandbox behind each.
const contexts = new WeakMap();

// node:vm's errors for bad arguments: TypeErrors with Node's codes.
function invalidArgType(name, expected, actual) {
  const received = actual === null ? 'null' : typeof actual === 'object' ? 'an instance of Object' : `type ${typeof actual} (${String(actual)})`;
  const error = new TypeError(`The "${name}" argument must be ${expected}. Received ${received}`);
  error.code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

function validateObject(value, name) {
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value);
}

function validateOptions(options, name = 'options') {
  if (options === undefined) return {};
  if (typeof options === 'string') return { filename: options };
  validateObject(options, name);
  return options;
}

function validateTimeout(timeout) {
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0 || timeout > 2 ** 32 - 1) {
    const error = new RangeError(
      `The value of "options.timeout" is out of range. It must be >= 1 && <= ${2 ** 32 - 1}. Received ${timeout}`,
    );
    error.code = 'ERR_OUT_OF_RANGE';
    throw error;
  }
  return timeout;
}

// ---------------------------------------------------------------------------
// Contexts.

// `createContext(contextObject, { name, origin, codeGeneration, memoryLimit })`:
// `contextObject` (a new object by default) becomes a context's, with an
// isolate of its own (`memoryLimit` in MB, ivm's own option).
function createContext(contextObject = {}, options) {
  if (isContext(contextObject)) return contextObject;
  options = validateOptions(options);
  const { name, origin, codeGeneration, memoryLimit, microtaskMode } = options;
  if (codeGeneration !== undefined) validateObject(codeGeneration, 'options.codeGeneration');
  // A context's promise jobs always run at the end of each run, in its own
  // isolate: what node:vm's 'afterEvaluate' asks for.
  if (microtaskMode !== undefined && microtaskMode !== 'afterEvaluate') {
    const error = new TypeError(`The property 'options.microtaskMode' must be one of: 'afterEvaluate', undefined. Received ${String(microtaskMode)}`);
    error.code = 'ERR_INVALID_ARG_VALUE';
    throw error;
  }
  contexts.set(contextObject, made({ name, origin, codeGeneration, memoryLimit }));
  return contextObject;
}

// A context's isolate and sandbox, made with `options`.
function made(options) {
  const { name, origin, codeGeneration, memoryLimit } = options;
  let isolate;
  let context;
  let pooled;
  const defaults = name === undefined && origin === undefined && codeGeneration === undefined && memoryLimit === undefined;
  if (defaults && pool().ready > 0) {
    // A context with the defaults comes booted ahead of time, when one is
    // ready; when none is, making one here is quicker than waiting for the
    // pool's thread, which boots them one at a time.
    pooled = pool().checkoutSync();
    ({ isolate, context } = pooled);
  } else {
    isolate = new ivm.Isolate(memoryLimit === undefined ? {} : { memoryLimit });
    context = isolate.createContextSync({ name, origin, codeGeneration });
  }
  // The pooled isolate goes back (disposed) when the object is collected.
  return { isolate, context, sandbox: new Sandbox(context), pooled, options, dormant: false };
}

// Disposes the isolate behind a contextified object after a
// `runInNewContext`, when nothing of it is left outside: no function of it
// came out (on the object, or as the result). A context nobody else can
// reach goes; one whose object is still the caller's stays a context, made
// anew from the object's properties if it is used again. What has no copy
// (objects holding functions, changed built-ins) does not carry over.
function release(contextObject, result, given) {
  if (typeof result === 'function') return;
  if (given && Object.values(contextObject).some((value) => typeof value === 'function' && !callbacks.has(value))) return;
  const entry = contexts.get(contextObject);
  if (entry.pooled !== undefined) entry.pooled.release();
  else if (!entry.isolate.isDisposed) entry.isolate.dispose();
  if (given) contexts.set(contextObject, { options: entry.options, dormant: true });
  else contexts.delete(contextObject);
}

// Isolates with a context, booted ahead of time on ivm's pool thread, for
// contexts made with the defaults (what `runInNewContext` usually makes):
// made on first use.
const POOL_SIZE = 4;
let isolates;
function pool() {
  isolates ??= new ivm.IsolatePool({ size: POOL_SIZE });
  return isolates;
}

function isContext(object) {
  validateObject(object, 'object');
  return contexts.has(object);
}

function contextOf(contextifiedObject) {
  let entry = contextifiedObject !== null && typeof contextifiedObject === 'object' && contexts.get(contextifiedObject);
  if (!entry) throw invalidArgType('contextifiedObject', 'an instance of vm.Context', contextifiedObject);
  if (entry.dormant) {
    // Its isolate went after `runInNewContext` (see `release`): a new one
    // takes the object's properties, as the context's globals were.
    entry = made(entry.options);
    contexts.set(contextifiedObject, entry);
  }
  return entry;
}

// The context of `runInThisContext`: one for the process, made on first
// use. node:vm runs such code in Node's own context; here the globals that
// the program made on Node's global object (not Node's own, which were there
// when this file loaded: `process`, `require`'s relatives, timers) follow
// this context's as a contextified object's do.
const nodeGlobals = new Set(Object.getOwnPropertyNames(globalThis));
let thisContext;
function theContext() {
  thisContext ??= createContext({});
  return thisContext;
}

// The object whose properties a context's globals follow, and their
// names: a contextified object's own enumerable ones, or, for the process's
// context, the program's own globals on Node's global object.
function followed(contextObject) {
  if (contextObject !== thisContext) return [contextObject, Object.keys(contextObject)];
  return [globalThis, Object.getOwnPropertyNames(globalThis).filter((name) => !nodeGlobals.has(name) && name !== 'vm')];
}

// ---------------------------------------------------------------------------
// Values going in.

// Host functions' callbacks, made once per function.
const callbacks = new WeakMap();
// The functions `syncing` made, to the References of the context's
// functions they call: given back to its context, one goes in as the
// function it calls.
const syncedFunctions = new WeakMap();

// A property of a contextified object as it goes into its context: a
// primitive as it is, a function as a callback (with its own properties:
// `[names, values, callback]` for the addon), an object as a copy, or, if
// it holds functions (as `console` does) or is an instance of a class, as
// an object rebuilt inside (`[names, values]`).
function sandboxValue(value, path, seen) {
  if (typeof value === 'symbol') {
    throw new ivm.TransferError(`${path} could not be cloned: a symbol cannot go into the context.`);
  }
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  if (isHandle(value)) return value;
  if (typeof value === 'function') {
    const reference = syncedFunctions.get(value);
    if (reference !== undefined) return reference.derefInto();
    let callback = callbacks.get(value);
    if (callback === undefined) callbacks.set(value, (callback = new ivm.Callback(value)));
    // A function with properties of its own (a library's, as lodash's
    // `_`) goes in with those that can (a symbol, say, cannot).
    if (seen.has(value)) return callback;
    const [names, values] = ownProperties(value, path, seen, true);
    return names.length === 0 ? callback : [names, values, callback];
  }
  const inherited = classMembers(value);
  if (inherited.length > 0 && !seen.has(value)) {
    try {
      return rebuilt(value, inherited, path, new Set(seen));
    } catch (error) {
      if (!(error instanceof ivm.TransferError)) throw error;
      // What cannot be rebuilt is copied, as an object without methods is.
    }
  }
  try {
    return serialize(value);
  } catch (error) {
    if (!(error instanceof ivm.TransferError)) throw error;
    if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet || seen.has(value)) {
      throw new ivm.TransferError(`${path} could not be cloned: ${error.message}`);
    }
  }
  return rebuilt(value, [], path, seen);
}

// `value`'s own enumerable properties as they go in, `[names, values]`;
// `lenient`, without those that cannot go in rather than failing.
function ownProperties(value, path, seen, lenient) {
  seen.add(value);
  const names = [];
  const values = [];
  for (const name of Object.keys(value)) {
    try {
      values.push(sandboxValue(value[name], `${path}.${name}`, seen));
      names.push(name);
    } catch (error) {
      if (!lenient || !(error instanceof ivm.TransferError)) throw error;
    }
  }
  return [names, values];
}

// An object's methods' callbacks, by name, made once per object.
const methodCallbacks = new WeakMap();

// `value` as an object made inside: its own enumerable properties, and
// `inherited`, the methods its class gives it.
function rebuilt(value, inherited, path, seen) {
  const [names, values] = ownProperties(value, path, seen, false);
  let methods = methodCallbacks.get(value);
  if (methods === undefined) methodCallbacks.set(value, (methods = new Map()));
  for (const name of inherited) {
    let method = methods.get(name);
    // Called on the object itself, so that it sees and changes the
    // object's own state.
    if (method === undefined) methods.set(name, (method = new ivm.Callback((...args) => value[name](...args))));
    names.push(name);
    values.push(method);
  }
  return [names, values];
}

// The methods an instance of a class gets from its prototypes (below
// Object.prototype), which a copy would lose: such an object is rebuilt
// inside with them. Getters are left alone (reading one runs its code,
// which node:vm would run only when the script reads it). Objects of
// built-in kinds (arrays, Maps, Buffers, Errors…) are copies as ever.
function classMembers(value) {
  const prototype = Object.getPrototypeOf(value);
  if (prototype === null || prototype === Object.prototype || typeof value === 'function') return [];
  if (Object.prototype.toString.call(value) !== '[object Object]') return [];
  const taken = new Set(Object.keys(value)).add('constructor');
  const names = [];
  for (let p = prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (taken.has(name)) continue;
      // The nearest prototype's member is the one the object has.
      taken.add(name);
      if (typeof Object.getOwnPropertyDescriptor(p, name).value === 'function') names.push(name);
    }
  }
  return names;
}

// Writes what a run changed onto the contextified object (the addon gives
// `undefined` for lists that are empty, and a function of the context's as
// its Reference).
function writeBack(sandbox, target, setNames, setValues, deleted) {
  if (setNames === undefined && deleted === undefined) return;
  for (let i = 0; i < (setNames?.length ?? 0); ++i) {
    let value = setValues[i];
    if (value instanceof ivm.Reference && value.typeof === 'function') value = syncing(value, sandbox, target);
    if (!Object.is(target[setNames[i]], value)) target[setNames[i]] = value;
  }
  for (const name of deleted ?? []) delete target[name];
}

// What a run's or a call's report (the addon's `[threw, result or error,
// set names, set values, deleted names, settled]`) gives its caller, once
// its changes are written back onto `target`: the result, a promise of what
// a promise came to, or the error thrown, as `thrown` makes it.
function reported(sandbox, target, [threw, value, setNames, setValues, deleted, settled], thrown) {
  writeBack(sandbox, target, setNames, setValues, deleted);
  if (threw) throw thrown(value);
  if (settled === 'fulfilled') return Promise.resolve(value);
  if (settled === 'rejected') return Promise.reject(value);
  return value;
}

// A function of the context's, which Node calls as its own: its arguments
// go in as a sandbox's properties do, it runs with the context's global as
// `this` (node:vm's is the contextified object, whose properties are the
// global's), what it changes in the context's globals is written back onto
// `target` as a run's changes are (so that the next run does not copy the
// object's older values over them), and a promise it returns (an async
// function's) gives what the call's jobs settled it to.
function syncing(reference, sandbox, target) {
  const synced = function (...args) {
    const seen = new Set();
    const values = args.map((arg, i) => sandboxValue(arg, `argument ${i}`, seen));
    return reported(sandbox, target, sandbox._call(reference, values), (error) => error);
  };
  Object.defineProperties(synced, {
    name: { value: reference.getSync('name'), configurable: true },
    length: { value: reference.getSync('length'), configurable: true },
  });
  syncedFunctions.set(synced, reference);
  return synced;
}

// The properties `names` of `target`, as they go into its context.
function valuesOf(target, names) {
  const seen = new Set([target]);
  const values = new Array(names.length);
  for (let i = 0; i < names.length; ++i) values[i] = sandboxValue(target[names[i]], names[i], seen);
  return values;
}

// ivm's own handles go in as what they stand for, as they do everywhere.
function isHandle(value) {
  return (
    value instanceof ivm.Reference ||
    value instanceof ivm.ExternalCopy ||
    value instanceof ivm.Callback ||
    value instanceof ivm.Isolate ||
    value instanceof ivm.Context
  );
}

// ---------------------------------------------------------------------------
// Scripts.

const DEFAULT_FILENAME = 'evalmachine.<anonymous>';

function scriptOptions(options) {
  const { filename = DEFAULT_FILENAME, lineOffset = 0, columnOffset = 0 } = options;
  if (typeof filename !== 'string') throw invalidArgType('options.filename', 'of type string', filename);
  for (const [name, value] of [['lineOffset', lineOffset], ['columnOffset', columnOffset]]) {
    if (!Number.isInteger(value)) throw invalidArgType(`options.${name}`, 'of type number', value);
  }
  return { filename, lineOffset, columnOffset };
}

// What a run that threw or changed a global reports into (see Sandbox._run
// in src/sandbox.rs); read, and emptied, as soon as the run returns. No run's
// result is this array: results are copies made for each run.
const report = [];

// Whether `new Script` compiles its code to check it, as node:vm's does:
// not for the `runIn…` functions, which run it at once (see `unchecked`).
let checking = true;

function unchecked(code, options) {
  checking = false;
  try {
    return new Script(code, options);
  } finally {
    checking = true;
  }
}

class Script {
  #code;
  #origin;
  // V8's code cache given (`cachedData`), as the ExternalCopy ivm takes:
  // every context's isolate compiles with it.
  #cache;

  constructor(code, options) {
    code = `${code}`;
    options = validateOptions(options);
    this.#code = code;
    this.#origin = scriptOptions(options);
    const { cachedData, produceCachedData = false } = options;
    if (cachedData !== undefined) this.#cache = new ivm.ExternalCopy(bufferOf(cachedData, 'options.cachedData'));
    // node:vm compiles here, so that a SyntaxError is thrown by `new Script`
    // (the functions that run code at once find it when they run it).
    if (!checking && cachedData === undefined && !produceCachedData) return;
    const compiled = this.#compile(produceCachedData);
    if (cachedData !== undefined) this.cachedDataRejected = compiled.cachedDataRejected === true;
    if (produceCachedData) {
      this.cachedDataProduced = compiled.cachedData !== undefined;
      if (compiled.cachedData !== undefined) this.cachedData = Buffer.from(compiled.cachedData.copy());
    }
    compiled.release();
  }

  // The code compiled in the process's own context's isolate.
  #compile(produceCachedData) {
    try {
      const options = { ...this.#origin, produceCachedData };
      if (this.#cache !== undefined) options.cachedData = this.#cache;
      return contextOf(theContext()).isolate.compileScriptSync(this.#code, options);
    } catch (error) {
      throw nodeError(error, this.#code);
    }
  }

  // node:vm's code cache of this script, for `cachedData` later.
  createCachedData() {
    const compiled = this.#compile(true);
    try {
      return compiled.cachedData === undefined ? Buffer.alloc(0) : Buffer.from(compiled.cachedData.copy());
    } finally {
      compiled.release();
    }
  }

  runInContext(contextifiedObject, options) {
    const { sandbox } = contextOf(contextifiedObject);
    return this.#run(sandbox, ...followed(contextifiedObject), runOptions(options));
  }

  // Runs in `sandbox` with `names` of `target` as its globals, and writes
  // back onto `target` what the run changed.
  #run(sandbox, target, names, { timeout, breakOnSigint, displayErrors }) {
    const values = valuesOf(target, names);
    const { filename, lineOffset, columnOffset } = this.#origin;
    const result = sandbox._run(
      report,
      this.#code,
      names,
      values,
      filename,
      lineOffset,
      columnOffset,
      timeout,
      this.#cache,
      breakOnSigint === true,
    );
    // The result itself, unless the run threw, changed a global or
    // completed with a promise (which it settled: node:vm would give the
    // promise, for the caller to await).
    if (result !== report) return result;
    const entries = [...report];
    report.length = 0;
    return reported(sandbox, target, entries, (value) => {
      const error = nodeError(value, this.#code);
      return displayErrors === false ? error : displayed(error, this.#code, this.#origin);
    });
  }

  runInNewContext(contextObject, options) {
    options = runOptions(options);
    const context = createContext(contextObject, {
      name: options.contextName,
      origin: options.contextOrigin,
      codeGeneration: options.contextCodeGeneration,
      memoryLimit: options.memoryLimit,
    });
    let result;
    try {
      result = this.runInContext(context, options);
      return result;
    } finally {
      release(context, result, contextObject !== undefined);
    }
  }

  runInThisContext(options) {
    return this.runInContext(theContext(), options);
  }
}

// A script method's options: an object, or the older positional timeout
// (`script.runInNewContext(sandbox, 100)`).
function runOptions(options) {
  if (typeof options === 'number') return { timeout: validateTimeout(options) };
  options = validateOptions(options);
  return { ...options, timeout: validateTimeout(options.timeout) };
}

// The bytes of a Buffer, TypedArray or DataView, as an ArrayBuffer of
// their own.
function bufferOf(view, name) {
  if (!ArrayBuffer.isView(view)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', view);
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
}

// An error of a run as node:vm throws it: a SyntaxError's message without
// isolated-vm's `[file:line:col]`, its stack opening with the place and the
// line, as Node prints them.
function nodeError(error, code) {
  if (!(error instanceof SyntaxError)) return error;
  const place = / \[(.*):(\d+):(\d+)\]$/.exec(error.message);
  if (place === null) return error;
  const [suffix, filename, line, column] = place;
  const message = error.message.slice(0, -suffix.length);
  const source = code.split('\n')[Number(line) - 1] ?? '';
  const stack = `${filename}:${line}\n${source}\n${' '.repeat(Math.max(0, Number(column) - 1))}^\n\nSyntaxError: ${message}`;
  const nodeStyle = new SyntaxError(message);
  Object.defineProperty(nodeStyle, 'stack', { value: stack, writable: true, configurable: true });
  return nodeStyle;
}

// An error the code of a run threw, its stack opening with the place in
// the script where it was thrown and that line, as node:vm's `displayErrors`
// (true by default) has it. Errors thrown elsewhere (in a host function),
// and node:vm's own (a timeout's), are left as they are.
function displayed(error, code, { filename, lineOffset, columnOffset }) {
  if (!(error instanceof Error) || typeof error.stack !== 'string' || error instanceof SyntaxError) return error;
  if (typeof error.code === 'string' && error.code.startsWith('ERR_')) return error;
  const frame = /^ +at (?:.*? \()?(.*):(\d+):(\d+)\)?$/m.exec(error.stack);
  if (frame === null || frame[1] !== filename) return error;
  const line = Number(frame[2]);
  const source = code.split('\n')[line - 1 - lineOffset];
  if (source === undefined) return error;
  const column = Number(frame[3]) - (line - 1 === lineOffset ? columnOffset : 0);
  error.stack = `${filename}:${line}\n${source}\n${' '.repeat(Math.max(0, column - 1))}^\n\n${error.stack}`;
  return error;
}

// The older positional form: `(code, sandbox, filename, timeout)`.
function positional(options, timeout) {
  if (typeof options === 'string' && timeout !== undefined) return { filename: options, timeout };
  return options;
}

// ---------------------------------------------------------------------------
// Modules: node:vm's SourceTextModule, and the older vm.Module of its first
// experimental versions, over ivm's modules in the context's isolate. A
// module's evaluation takes the contextified object's properties as its
// context's globals and writes back what it changed, as a script's run does.

function vmError(Class, code, message) {
  const error = new Class(message);
  error.code = code;
  return error;
}

let moduleCount = 0;
// ivm's modules, to the vm modules that made them (the resolver is told
// which module asks).
const moduleOf = new WeakMap();

class SourceTextModule {
  #contextObject;
  #entry;
  #identifier;
  #module;
  #status = 'unlinked';
  #error;
  #linked = new Map();
  #importModuleDynamically;
  #initializeImportMeta;

  constructor(code, options = {}) {
    if (typeof code !== 'string') throw invalidArgType('sourceText', 'of type string', code);
    validateObject(options, 'options');
    const { context, identifier, lineOffset = 0, columnOffset = 0, initializeImportMeta, importModuleDynamically } = options;
    if (initializeImportMeta !== undefined && typeof initializeImportMeta !== 'function') {
      throw invalidArgType('options.initializeImportMeta', 'of type function', initializeImportMeta);
    }
    if (importModuleDynamically !== undefined && typeof importModuleDynamically !== 'function') {
      throw invalidArgType('options.importModuleDynamically', 'of type function', importModuleDynamically);
    }
    this.#importModuleDynamically = importModuleDynamically;
    this.#contextObject = context === undefined ? theContext() : context;
    this.#entry = contextOf(this.#contextObject);
    this.#identifier = identifier ?? `vm:module(${moduleCount++})`;
    try {
      this.#module = this.#entry.isolate.compileModuleSync(code, { filename: this.#identifier, lineOffset, columnOffset });
    } catch (error) {
      throw nodeError(error, code);
    }
    moduleOf.set(this.#module, this);
    this.#initializeImportMeta = initializeImportMeta;
  }

  // node:vm calls `initializeImportMeta` with `import.meta` when the module
  // first reads it; ivm's `import.meta` lives in the module's isolate, so it
  // is called once the module is linked (before any of its code can run),
  // with an object whose own properties then become copies there.
  #setImportMeta() {
    const initialize = this.#initializeImportMeta;
    if (initialize === undefined) return;
    this.#initializeImportMeta = undefined;
    const meta = {};
    initialize(meta, this);
    this.#module._setImportMeta(meta);
  }

  get identifier() {
    return this.#identifier;
  }

  get context() {
    return this.#contextObject;
  }

  get status() {
    return this.#status;
  }

  get dependencySpecifiers() {
    return Object.freeze([...this.#module.dependencySpecifiers]);
  }

  get error() {
    if (this.#status !== 'errored') {
      throw vmError(Error, 'ERR_VM_MODULE_STATUS', 'Module status must be errored');
    }
    return this.#error;
  }

  // The namespace, as copies of its exports (functions as functions;
  // objects with no copy as References).
  get namespace() {
    if (this.#status === 'unlinked' || this.#status === 'linking') {
      throw vmError(Error, 'ERR_VM_MODULE_STATUS', 'Module status must not be unlinked or linking');
    }
    const namespace = this.#module.namespace;
    const names = this.#entry.context.evalClosureSync('return Object.keys($0)', [namespace.derefInto()], {
      result: { copy: true },
    });
    const copy = { __proto__: null };
    for (const name of names) {
      try {
        copy[name] = namespace.getSync(name, { copy: true });
      } catch {
        copy[name] = namespace.getSync(name);
      }
    }
    return Object.freeze(copy);
  }

  // Asks `linker(specifier, module, { attributes })` for each dependency,
  // links those in turn, and instantiates the graph.
  async link(linker) {
    await this._resolve(linker);
    // With an async resolver, which ivm keeps for the graph's dynamic
    // imports (`_imported`).
    await this.#module.instantiate(this.#entry.context, (specifier, referrer) => moduleOf.get(referrer)._imported(specifier));
  }

  // The module `specifier` names from this one: a linked dependency, or for
  // a dynamic `import()`, what `importModuleDynamically` gives, which must
  // be linked (node:vm reads its namespace); ivm evaluates it.
  async _imported(specifier) {
    const linked = this.#linked.get(specifier);
    if (linked !== undefined) return linked.#module;
    if (this.#importModuleDynamically === undefined) {
      throw vmError(TypeError, 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING', 'A dynamic import callback was not specified.');
    }
    const imported = await this.#importModuleDynamically(specifier, this, { attributes: {}, assert: {} });
    if (!(imported instanceof SourceTextModule)) {
      throw vmError(TypeError, 'ERR_VM_MODULE_NOT_MODULE', 'Provided module is not an instance of Module');
    }
    if (imported.context !== this.context) {
      throw vmError(Error, 'ERR_VM_MODULE_DIFFERENT_CONTEXT', 'Linked modules must use the same context');
    }
    if (imported.status === 'errored') throw imported.error;
    if (imported.status === 'unlinked' || imported.status === 'linking') {
      throw vmError(Error, 'ERR_VM_MODULE_STATUS', 'Module status must not be unlinked or linking');
    }
    return imported.#module;
  }

  async _resolve(linker) {
    if (typeof linker !== 'function') throw invalidArgType('linker', 'of type function', linker);
    if (this.#status !== 'unlinked') throw vmError(Error, 'ERR_VM_MODULE_ALREADY_LINKED', 'Module has already been linked');
    this.#status = 'linking';
    try {
      for (const specifier of this.#module.dependencySpecifiers) {
        const dependency = await linker(specifier, this, { attributes: {}, assert: {} });
        if (!(dependency instanceof SourceTextModule)) {
          throw vmError(TypeError, 'ERR_VM_MODULE_NOT_MODULE', 'Provided module is not an instance of Module');
        }
        if (dependency.context !== this.context) {
          throw vmError(Error, 'ERR_VM_MODULE_DIFFERENT_CONTEXT', 'Linked modules must use the same context');
        }
        if (dependency.status === 'unlinked') await dependency._resolve(linker);
        this.#linked.set(specifier, dependency);
      }
      this.#setImportMeta();
      this.#status = 'linked';
    } catch (error) {
      this.#status = 'unlinked';
      throw error;
    }
  }

  _instantiate() {
    this.#module.instantiateSync(this.#entry.context, (specifier, referrer) => moduleOf.get(referrer)._dependency(specifier));
  }

  _dependency(specifier) {
    return this.#linked.get(specifier).#module;
  }

  async evaluate(options = {}) {
    validateObject(options, 'options');
    const timeout = validateTimeout(options.timeout);
    const { breakOnSigint = false } = options;
    if (typeof breakOnSigint !== 'boolean') throw invalidArgType('options.breakOnSigint', 'of type boolean', breakOnSigint);
    if (this.#status === 'evaluated') return undefined;
    if (this.#status === 'errored') throw this.#error;
    if (this.#status !== 'linked') {
      throw vmError(Error, 'ERR_VM_MODULE_STATUS', 'Module status must be one of linked, evaluated, or errored');
    }
    this.#status = 'evaluating';
    const { sandbox } = this.#entry;
    const [target, names] = followed(this.#contextObject);
    sandbox._setGlobals(names, valuesOf(target, names));
    try {
      await this.#start(timeout, breakOnSigint);
      this._evaluated();
    } catch (error) {
      this.#status = 'errored';
      this.#error = error instanceof ivm.TimeoutError ? Sandbox._timeoutError(timeout) : error;
      throw this.#error;
    } finally {
      writeBack(sandbox, target, ...sandbox._changes());
    }
    return undefined;
  }

  // Starts the evaluation on Node's thread, as node:vm evaluates (a
  // SyntheticModule's callback, which it calls, calls back into the
  // isolate); with `breakOnSigint`, Ctrl-C is the evaluation's while it
  // runs there, and ends it with node:vm's error.
  #start(timeout, breakOnSigint) {
    const sigint = breakOnSigint ? Sandbox._breakOnSigint() : undefined;
    try {
      return this.#module.evaluateSync(timeout === undefined ? { promise: true } : { timeout, promise: true });
    } catch (error) {
      throw (sigint !== undefined && Sandbox._endBreakOnSigint(sigint)) || error;
    } finally {
      // Nothing once ended above.
      if (sigint !== undefined) Sandbox._endBreakOnSigint(sigint);
    }
  }

  _evaluated() {
    this.#status = 'evaluated';
    for (const dependency of this.#linked.values()) {
      if (dependency.status === 'linked' || dependency.status === 'evaluating') dependency._evaluated();
    }
  }
}

// node:vm's SyntheticModule: exports that Node sets (`setExport`), made by
// `evaluateCallback` when the module is evaluated. It is a module of
// `let` bindings whose evaluation calls back to Node (through a
// symbol-keyed global, which the object's globals never show) to run the
// callback, and whose bindings a setter inside the module assigns.
let syntheticCount = 0;

class SyntheticModule extends SourceTextModule {
  #names;
  #key;
  #pending = new Map();
  #evaluated = false;

  constructor(exportNames, evaluateCallback, options = {}) {
    if (!Array.isArray(exportNames) || exportNames.some((name) => typeof name !== 'string')) {
      throw invalidArgType('exportNames', 'an Array of strings', exportNames);
    }
    if (new Set(exportNames).size !== exportNames.length) {
      throw vmError(TypeError, 'ERR_INVALID_ARG_VALUE', "The argument 'exportNames' must not contain duplicates");
    }
    if (typeof evaluateCallback !== 'function') throw invalidArgType('evaluateCallback', 'of type function', evaluateCallback);
    validateObject(options, 'options');
    const key = `ivm/vm synthetic ${syntheticCount++}`;
    const locals = exportNames.map((_, i) => `e${i}`);
    const code = [
      locals.length > 0 ? `let ${locals.join(', ')};` : '',
      `export { ${exportNames.map((name, i) => `${locals[i]} as ${JSON.stringify(name)}`).join(', ')} };`,
      `Object.defineProperty(globalThis, Symbol.for(${JSON.stringify(`${key} set`)}), { configurable: true, value: (i, v) => {`,
      `  switch (i) { ${locals.map((local, i) => `case ${i}: ${local} = v; break;`).join(' ')} }`,
      '} });',
      `globalThis[Symbol.for(${JSON.stringify(key)})]();`,
    ].join('\n');
    super(code, { identifier: options.identifier, context: options.context });
    this.#names = exportNames;
    this.#key = key;
    const evaluated = () => {
      this.#evaluated = true;
      for (const [index, value] of this.#pending) this.#set(index, value);
      this.#pending.clear();
      evaluateCallback.call(this);
    };
    contextOf(this.context).context.evalClosureSync(
      'Object.defineProperty(globalThis, Symbol.for($0), { configurable: true, value: $1 })',
      [key, new ivm.Callback(evaluated)],
    );
  }

  setExport(name, value) {
    const index = this.#names.indexOf(name);
    if (index < 0) {
      throw vmError(ReferenceError, 'ERR_VM_MODULE_EXPORT_NOT_FOUND', `Export '${name}' is not defined in module`);
    }
    if (this.status === 'unlinked' || this.status === 'linking') {
      throw vmError(Error, 'ERR_VM_MODULE_STATUS', 'Module status must not be unlinked or linking');
    }
    if (this.#evaluated) this.#set(index, value);
    else this.#pending.set(index, value);
  }

  #set(index, value) {
    contextOf(this.context).context.evalClosureSync('globalThis[Symbol.for($0)]($1, $2)', [`${this.#key} set`, index, value], {
      arguments: { copy: true },
    });
  }
}

// The first experimental vm.Module (the newer seed): `url`, linking and
// instantiation as separate steps, and `evaluate()` resolving to
// `{ result }`. V8 gives a module's evaluation no completion value any
// more, so `result` is `undefined`.
class Module extends SourceTextModule {
  #instantiated = false;

  constructor(code, options = {}) {
    validateObject(options, 'options');
    const { url, ...rest } = options;
    super(code, { ...rest, identifier: url });
  }

  get url() {
    return this.identifier;
  }

  get linkingStatus() {
    const status = super.status;
    return status === 'linking' || status === 'unlinked' ? status : 'linked';
  }

  get status() {
    const status = super.status;
    if (status === 'linked' || status === 'unlinked' || status === 'linking') {
      return this.#instantiated ? 'instantiated' : 'uninstantiated';
    }
    return status;
  }

  async link(linker) {
    await this._resolve(linker);
  }

  instantiate() {
    this._instantiate();
    this.#instantiated = true;
  }

  async evaluate(options) {
    if (!this.#instantiated) this.instantiate();
    await super.evaluate(options);
    return { result: undefined };
  }
}

// `compileFunction(code, params, { filename, lineOffset, columnOffset,
// parsingContext })`: `code` as the body of a function of `params`, made in
// `parsingContext` (the process's context by default), callable from Node.
// Calling it runs in its context, with copies for arguments and result;
// the context's globals follow its object at runs of scripts, not at calls.
function compileFunction(code, params = [], options = {}) {
  if (typeof code !== 'string') throw invalidArgType('code', 'of type string', code);
  if (!Array.isArray(params)) throw invalidArgType('params', 'an instance of Array', params);
  for (const param of params) {
    if (typeof param !== 'string') throw invalidArgType('params', 'an Array of strings', params);
  }
  validateObject(options, 'options');
  const { parsingContext, contextExtensions = [] } = options;
  if (!Array.isArray(contextExtensions)) throw invalidArgType('options.contextExtensions', 'an instance of Array', contextExtensions);
  if (contextExtensions.length > 0) {
    throw new TypeError('ivm/vm: compileFunction does not take contextExtensions (README, "node:vm, made a sandbox")');
  }
  const { lineOffset = 0, ...rest } = options;
  // The body starts on the source's second line.
  const source = `(function (${params.join(', ')}) {\n${code}\n})`;
  const script = unchecked(source, { ...rest, lineOffset: lineOffset - 1 });
  return parsingContext === undefined ? script.runInThisContext() : script.runInContext(parsingContext);
}

function createScript(code, options) {
  return new Script(code, options);
}

function runInContext(code, contextifiedObject, options, timeout) {
  options = positional(options, timeout);
  return unchecked(code, options).runInContext(contextifiedObject, options);
}

function runInNewContext(code, contextObject, options, timeout) {
  options = positional(options, timeout);
  return unchecked(code, options).runInNewContext(contextObject, options);
}

function runInThisContext(code, options) {
  return unchecked(code, options).runInThisContext(typeof options === 'string' ? undefined : options);
}

module.exports = {
  Module,
  Script,
  SourceTextModule,
  SyntheticModule,
  compileFunction,
  createContext,
  createScript,
  isContext,
  runInContext,
  runInNewContext,
  runInThisContext,
};
