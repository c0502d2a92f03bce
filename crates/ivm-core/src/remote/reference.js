// The `Reference` class inside an isolate, for values that live elsewhere:
// in the host (a Node or Python object) or in another isolate, and the rest
// of isolated-vm's library there. remote.rs runs this once per context with
// three host functions that carry out an operation synchronously, as a
// promise, or blocking (applySyncPromise); each takes the remote value's id,
// the operation and its arguments, copied. The fourth, `local`, does what
// needs values of this isolate themselves (`new Reference(value)`,
// `new Callback(fn)`, `deref()`). It returns `make(id, typeOf)`, which
// remote.rs calls for each value.
(function (callSync, callAsync, callBlocking, local) {
  'use strict';
  // Taken now, so that code changing the built-ins later only breaks
  // itself, never another context's references.
  const { apply } = Reflect;
  const { create, freeze } = Object;
  const slots = new WeakMap();
  const slotOf = WeakMap.prototype.get;
  const setSlot = WeakMap.prototype.set;
  const dropSlot = WeakMap.prototype.delete;
  const catchPromise = Promise.prototype.catch;
  const isArray = Array.isArray;
  const TypeErrorClass = TypeError;
  const ErrorClass = Error;
  const SymbolOf = Symbol;

  function slot(reference) {
    const found = apply(slotOf, slots, [reference]);
    if (found === undefined) throw new ErrorClass('Reference has been released');
    return found;
  }

  // TransferOptions as the host reads them: 1 primitives or a Reference,
  // 2 a copy, 4 a Reference (3, an ExternalCopy, is copied here).
  function resultMode(options) {
    if (options === undefined || options === null) return 1;
    const set = (options.copy ? 1 : 0) + (options.externalCopy ? 1 : 0) + (options.reference ? 1 : 0);
    if (set > 1) throw new TypeErrorClass('Only one of `copy`, `externalCopy`, or `reference` may be set');
    if (options.copy || options.externalCopy) return 2;
    return options.reference ? 4 : 1;
  }

  function argumentList(args, options) {
    const transfer = options && options.arguments;
    if (transfer && (transfer.reference || transfer.externalCopy)) {
      throw new TypeErrorClass('Arguments from inside an isolate can only be copied');
    }
    if (args === undefined) return [];
    if (!isArray(args)) throw new TypeErrorClass('`arguments` must be an array');
    return args;
  }

  function timeoutOf(options) {
    const timeout = options && options.timeout;
    return typeof timeout === 'number' && timeout > 0 ? timeout : 0;
  }

  function applyArgs(reference, receiver, args, options) {
    const result = options && options.result;
    const list = [slot(reference).id, 'apply', receiver, resultMode(result), !!(result && result.promise),
      timeoutOf(options)];
    const rest = argumentList(args, options);
    for (let i = 0; i < rest.length; ++i) list[list.length] = rest[i];
    return list;
  }

  function ignore(promise) {
    apply(catchPromise, promise, [() => {}]);
  }

  class Reference {
    // A Reference made here holds a value of this isolate.
    constructor(value) {
      if (arguments.length === 0) throw new TypeErrorClass('`Reference` requires at least 1 parameter');
      return apply(local, undefined, ['hold', value]);
    }
    get typeof() { return slot(this).typeOf; }
    copySync() { return callSync(slot(this).id, 'copy'); }
    copy() { return callAsync(slot(this).id, 'copy'); }
    getSync(key, options) { return callSync(slot(this).id, 'get', key, resultMode(options), timeoutOf(options)); }
    get(key, options) { return callAsync(slot(this).id, 'get', key, resultMode(options), timeoutOf(options)); }
    setSync(key, value, options) { return callSync(slot(this).id, 'set', key, value, timeoutOf(options)); }
    set(key, value, options) { return callAsync(slot(this).id, 'set', key, value, timeoutOf(options)); }
    setIgnored(key, value, options) { ignore(callAsync(slot(this).id, 'set', key, value, timeoutOf(options))); }
    deleteSync(key) { return callSync(slot(this).id, 'delete', key); }
    delete(key) { return callAsync(slot(this).id, 'delete', key); }
    deleteIgnored(key) { ignore(callAsync(slot(this).id, 'delete', key)); }
    // With `result: { promise: true }` the host's result is a promise, and
    // so is what applySync gives: the host function runs at once all the
    // same (a synchronous call from the host's thread calls it there).
    applySync(receiver, args, options) {
      const list = applyArgs(this, receiver, args, options);
      return apply(list[4] ? callAsync : callSync, undefined, list);
    }
    apply(receiver, args, options) { return apply(callAsync, undefined, applyArgs(this, receiver, args, options)); }
    applyIgnored(receiver, args, options) {
      ignore(apply(callAsync, undefined, applyArgs(this, receiver, args, options)));
    }
    applySyncPromise(receiver, args, options) {
      return apply(callBlocking, undefined, applyArgs(this, receiver, args, options));
    }
    deref() { return apply(local, undefined, ['deref', this]); }
    derefInto(options) {
      const marker = callSync(slot(this).id, 'derefInto');
      if (options && options.release) apply(Reference.prototype.release, this, []);
      return marker;
    }
    release() {
      const found = apply(slotOf, slots, [this]);
      if (found !== undefined) {
        apply(dropSlot, slots, [this]);
        callSync(found.id, 'release');
      }
    }
  }
  freeze(Reference.prototype);
  freeze(Reference);
  const releaseHandle = Reference.prototype.release;

  // An ExternalCopy passed in as itself: a copy held outside the isolate.
  class ExternalCopy {
    constructor(value) {
      if (arguments.length === 0) throw new TypeErrorClass('`ExternalCopy` requires at least 1 parameter');
      if (libraryId === undefined) throw new TypeErrorClass('The isolated-vm library was not passed in');
      return callSync(libraryId, 'call', 'newExternalCopy', value);
    }
    copy(options) {
      return callSync(slot(this).id, 'copy', !!(options && options.release), !!(options && options.transferIn));
    }
    copyInto(options) {
      return callSync(slot(this).id, 'copyInto', !!(options && options.release), !!(options && options.transferIn));
    }
    release() { apply(releaseHandle, this, []); }
  }
  freeze(ExternalCopy.prototype);
  freeze(ExternalCopy);

  // A function of this isolate that leaves it as a function.
  class Callback {
    constructor(fn) {
      return apply(local, undefined, ['callback', fn]);
    }
  }
  freeze(Callback.prototype);
  freeze(Callback);

  // isolated-vm's `lib`.
  const lib = freeze({
    // [seconds, nanoseconds] of a monotonic clock, or the time since
    // `previous`, as Node's process.hrtime.
    hrtime(previous) {
      const now = apply(local, undefined, ['hrtime']);
      if (previous === undefined) return now;
      if (!isArray(previous) || previous.length !== 2) throw new TypeErrorClass('hrtime diff must be 2-length array');
      let seconds = now[0] - previous[0];
      let nanoseconds = now[1] - previous[1];
      if (nanoseconds < 0) {
        seconds -= 1;
        nanoseconds += 1e9;
      }
      return [seconds, nanoseconds];
    },
    privateSymbol(name) { return SymbolOf(name); },
  });

  // isolated-vm's API for isolates of this isolate's own (library.rs). Every
  // operation runs as the child isolate's queued call: the `…Sync` forms
  // wait for it as applySyncPromise does.
  let libraryId;
  const BigIntValue = BigInt;
  const globals = new WeakMap();
  const globalOf = WeakMap.prototype.get;
  const setGlobal = WeakMap.prototype.set;

  function call(form, target, method, args) {
    const list = [slot(target).id, 'call', method];
    for (let i = 0; i < args.length; ++i) list[list.length] = args[i];
    return apply(form, undefined, list);
  }

  // (mode, promise, timeout) of an eval or run; eval and run give
  // `undefined` for what is not transferable unless asked otherwise.
  function runArgs(options) {
    const mode = options === undefined || options === null ? 0 : resultMode(options);
    return [mode === 1 ? 0 : mode, !!(options && options.promise), timeoutOf(options)];
  }

  class Isolate {
    constructor(options) {
      if (libraryId === undefined) throw new TypeErrorClass('The isolated-vm library was not passed in');
      const limit = options && options.memoryLimit;
      return callBlocking(libraryId, 'call', 'newIsolate', typeof limit === 'number' ? limit : undefined);
    }
    createContextSync() { return call(callBlocking, this, 'createContext', []); }
    createContext() { return call(callAsync, this, 'createContext', []); }
    compileScriptSync(code, options) {
      return call(callBlocking, this, 'compileScript', [code, options && options.filename]);
    }
    compileScript(code, options) { return call(callAsync, this, 'compileScript', [code, options && options.filename]); }
    compileModuleSync(code, options) { return call(callBlocking, this, 'compileModule', moduleArgs(code, options)); }
    compileModule(code, options) { return call(callAsync, this, 'compileModule', moduleArgs(code, options)); }
    dispose() { call(callSync, this, 'dispose', []); }
    get isDisposed() { return call(callSync, this, 'isDisposed', []); }
    get cpuTime() { return BigIntValue(call(callSync, this, 'cpuTime', [])); }
    get wallTime() { return BigIntValue(call(callSync, this, 'wallTime', [])); }
    get referenceCount() { return call(callSync, this, 'referenceCount', []); }
  }

  class Context {
    constructor() { throw new TypeErrorClass('A Context is made by isolate.createContext()'); }
    get global() {
      let global = apply(globalOf, globals, [this]);
      if (global === undefined) {
        global = call(callSync, this, 'global', []);
        apply(setGlobal, globals, [this, global]);
      }
      return global;
    }
    evalSync(code, options) { return call(callBlocking, this, 'eval', [code, ...runArgs(options)]); }
    eval(code, options) { return call(callAsync, this, 'eval', [code, ...runArgs(options)]); }
    evalIgnored(code, options) { ignore(call(callAsync, this, 'eval', [code, ...runArgs(options)])); }
    evalClosureSync(code, args, options) { return call(callBlocking, this, 'evalClosure', closureArgs(code, args, options)); }
    evalClosure(code, args, options) { return call(callAsync, this, 'evalClosure', closureArgs(code, args, options)); }
    evalClosureIgnored(code, args, options) {
      ignore(call(callAsync, this, 'evalClosure', closureArgs(code, args, options)));
    }
    release() { call(callSync, this, 'release', []); }
  }

  // (code, mode, promise, timeout, ...arguments) of an evalClosure.
  function closureArgs(code, args, options) {
    const [mode, promise] = runArgs(options && options.result);
    const list = [code, mode, promise, timeoutOf(options)];
    const rest = argumentList(args, options);
    for (let i = 0; i < rest.length; ++i) list[list.length] = rest[i];
    return list;
  }

  // (code, filename, meta) of a compileModule. The `meta` callback is called
  // here, and what it sets on the object it is given is what import.meta
  // gets (besides `url`, which it may set too).
  function moduleArgs(code, options) {
    const meta = options && options.meta;
    let properties;
    if (typeof meta === 'function') {
      properties = {};
      meta(properties);
    }
    return [code, options && options.filename, properties];
  }

  // The modules `resolver` gives for `module`'s imports and theirs, as
  // (referrer, specifier, module) ids; `wait` is how an answer is awaited
  // (the async form) or taken as it is.
  function* linkPlan(module, resolver) {
    if (typeof resolver !== 'function') throw new TypeErrorClass('`resolver` must be a function');
    const plan = [];
    const queue = [module];
    const seen = create(null);
    while (queue.length > 0) {
      const referrer = queue[queue.length - 1];
      queue.length -= 1;
      const id = slot(referrer).id;
      if (seen[id]) continue;
      seen[id] = true;
      const specifiers = referrer.dependencySpecifiers;
      for (let i = 0; i < specifiers.length; ++i) {
        const dependency = yield apply(resolver, undefined, [specifiers[i], referrer]);
        if (!(dependency instanceof Module)) throw new TypeErrorClass('Resolved dependency was not `Module`');
        plan[plan.length] = id;
        plan[plan.length] = specifiers[i];
        plan[plan.length] = slot(dependency).id;
        queue[queue.length] = dependency;
      }
    }
    return plan;
  }

  function planNow(module, resolver) {
    const walk = linkPlan(module, resolver);
    let step = walk.next();
    while (!step.done) step = walk.next(step.value);
    return step.value;
  }

  async function planLater(module, resolver) {
    const walk = linkPlan(module, resolver);
    let step = walk.next();
    while (!step.done) step = walk.next(await step.value);
    return step.value;
  }

  class Module {
    constructor() { throw new TypeErrorClass('A Module is made by isolate.compileModule()'); }
    get dependencySpecifiers() { return call(callSync, this, 'dependencySpecifiers', []); }
    get namespace() { return call(callBlocking, this, 'namespace', []); }
    instantiateSync(context, resolver) {
      return call(callBlocking, this, 'instantiate', [slot(context).id, ...planNow(this, resolver)]);
    }
    async instantiate(context, resolver) {
      const plan = await planLater(this, resolver);
      return call(callAsync, this, 'instantiate', [slot(context).id, ...plan]);
    }
    evaluateSync(options) { return call(callBlocking, this, 'evaluate', runArgs(options)); }
    evaluate(options) { return call(callAsync, this, 'evaluate', runArgs(options)); }
    release() { call(callSync, this, 'release', []); }
  }

  class Script {
    constructor() { throw new TypeErrorClass('A Script is made by isolate.compileScript()'); }
    runSync(context, options) { return call(callBlocking, this, 'run', [slot(context).id, ...runArgs(options)]); }
    run(context, options) { return call(callAsync, this, 'run', [slot(context).id, ...runArgs(options)]); }
    runIgnored(context, options) { ignore(call(callAsync, this, 'run', [slot(context).id, ...runArgs(options)])); }
    release() { call(callSync, this, 'release', []); }
  }

  for (const made of [Isolate, Context, Script, Module]) {
    freeze(made.prototype);
    freeze(made);
  }

  // What ExternalCopy#copyInto() gives: it leaves the isolate as the copy.
  class ExternalCopyIntoHandle {}
  freeze(ExternalCopyIntoHandle.prototype);
  freeze(ExternalCopyIntoHandle);

  // What Reference#derefInto() gives: it leaves the isolate as the value.
  class DereferenceHandle {}
  freeze(DereferenceHandle.prototype);
  freeze(DereferenceHandle);

  const prototypes = {
    Reference: Reference.prototype,
    ExternalCopy: ExternalCopy.prototype,
    CopyInto: ExternalCopyIntoHandle.prototype,
    DerefInto: DereferenceHandle.prototype,
    Callback: Callback.prototype,
    Isolate: Isolate.prototype,
    Context: Context.prototype,
    Script: Script.prototype,
    Module: Module.prototype,
  };

  return function make(id, typeOf, className) {
    if (className === 'Library') {
      const library = create(null);
      apply(setSlot, slots, [library, freeze({ id, typeOf })]);
      libraryId = id;
      library.Isolate = Isolate;
      library.Context = Context;
      library.Script = Script;
      library.Module = Module;
      library.Reference = Reference;
      library.ExternalCopy = ExternalCopy;
      library.Callback = Callback;
      library.lib = lib;
      return freeze(library);
    }
    const object = create(prototypes[className]);
    apply(setSlot, slots, [object, freeze({ id, typeOf })]);
    return object;
  };
})
