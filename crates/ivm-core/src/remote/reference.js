// The `Reference` class inside an isolate, for values that live elsewhere:
// in the host (a Node or Python object) or in another isolate. remote.rs
// runs this once per context with three host functions that carry out an
// operation synchronously, as a promise, or blocking (applySyncPromise);
// each takes the remote value's id, the operation and its arguments, copied.
// It returns `make(id, typeOf)`, which remote.rs calls for each value.
(function (callSync, callAsync, callBlocking) {
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

  function slot(reference) {
    const found = apply(slotOf, slots, [reference]);
    if (found === undefined) throw new TypeErrorClass('Reference has been released');
    return found;
  }

  // TransferOptions as the host reads them: 1 primitives or a Reference,
  // 2 a copy, 4 a Reference (3, an ExternalCopy, is copied here).
  function resultMode(options) {
    if (options === undefined || options === null) return 1;
    const set = (options.copy ? 1 : 0) + (options.externalCopy ? 1 : 0) + (options.reference ? 1 : 0);
    if (set > 1) throw new TypeErrorClass('Only one of `copy`, `externalCopy` or `reference` may be set');
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
    constructor() {
      throw new TypeErrorClass('A Reference to a value outside this isolate is made by its host');
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
    applySync(receiver, args, options) { return apply(callSync, undefined, applyArgs(this, receiver, args, options)); }
    apply(receiver, args, options) { return apply(callAsync, undefined, applyArgs(this, receiver, args, options)); }
    applyIgnored(receiver, args, options) {
      ignore(apply(callAsync, undefined, applyArgs(this, receiver, args, options)));
    }
    applySyncPromise(receiver, args, options) {
      return apply(callBlocking, undefined, applyArgs(this, receiver, args, options));
    }
    deref() { throw new TypeErrorClass('Cannot dereference this from current isolate'); }
    derefInto() { throw new TypeErrorClass('Cannot dereference this into target isolate'); }
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
    constructor() {
      throw new TypeErrorClass('An ExternalCopy is made by its host');
    }
    copy() { return callSync(slot(this).id, 'copy'); }
    copyInto() { throw new TypeErrorClass('copyInto() is not supported inside an isolate yet'); }
    release() { apply(releaseHandle, this, []); }
  }
  freeze(ExternalCopy.prototype);
  freeze(ExternalCopy);

  const prototypes = { Reference: Reference.prototype, ExternalCopy: ExternalCopy.prototype };

  return function make(id, typeOf, className) {
    const object = create(prototypes[className]);
    apply(setSlot, slots, [object, freeze({ id, typeOf })]);
    return object;
  };
})
