// Type declarations for ivm's Node package: isolated-vm 7's API
// (isolated-vm 7.0.1's `isolated-vm.d.ts`, with its class, method and
// option names and its transfer-option typing), adapted to what ivm does.
//
// Differences from isolated-vm, as ivm stands today:
// - Values that cross into an isolate are primitives (bigint included),
//   `Reference`, `ExternalCopy#copyInto()`, `Reference#derefInto()`,
//   `Callback` and Node functions (wrapped in a `Callback`). `Module`
//   handles cannot be passed into an isolate.
// - `Isolate.createSnapshot` runs its scripts in a separate Node process
//   under a memory limit and a timeout (ivm's third argument sets them), so
//   a failing, runaway or memory-hungry script is an error, not a crash.
// - `createContext` also takes node:vm's `codeGeneration`, `name` and `origin`
//   options.
// - The inspector's session is an exported class, `InspectorSession`, and
//   ivm adds a DevTools server of its own (`isolate.startInspectorServer()`,
//   `InspectorServer`).
// - isolated-vm's `NativeModule` does not exist in ivm and is not declared.
// - Every failure of ivm's own (timeouts, memory limits, disposed isolates,
//   released handles...) is an instance of a class of its own below, all
//   `instanceof IvmError`; their `name` stays "Error", as isolated-vm's
//   errors are plain Errors, except TransferError's: it is a TypeError
//   named so, as isolated-vm's failures to copy a value are.
//
// The package is CommonJS: `require('ivm')`, `import ivm = require('ivm')`,
// `import * as ivm from 'ivm'`, `import { Isolate } from 'ivm'` and
// `import ivm from 'ivm'` (through `default`) all work.

/**
 * Any value that may pass between isolates without one of the
 * `TransferOptions` (`copy`, `externalCopy`, `reference`): primitives,
 * `Reference` and `Callback` handles, the objects made by
 * `ExternalCopy#copyInto()` and `Reference#derefInto()`, and functions
 * (which cross as a `Callback`). Other values must be transferred with
 * `TransferOptions` or wrapped in a `Reference` or `ExternalCopy`.
 */
export type Transferable =
  | null
  | undefined
  | string
  | number
  | boolean
  | bigint
  | ExternalCopy<any>
  | Callback<any>
  | Copy<any>
  | Reference<any>
  | Dereference<any>
  | ((...args: any[]) => any);

/**
 * This is the main reference to an isolate. An isolate will remain valid as
 * long as someone holds a handle to the isolate or anything created inside
 * that isolate. Once an isolate is lost the garbage collector should
 * eventually find it and clean up its memory. Since an isolate and all it
 * contains can represent quite a large chunk of memory though you may want to
 * explicitly call the `dispose()` method on isolates that you are finished
 * with to get that memory back immediately.
 *
 * An isolate breaching its `memoryLimit` is disposed, and the call that was
 * running in it fails with a `MemoryLimitError`; Node keeps running.
 */
export declare class Isolate {
  private __ivm_isolate: undefined;

  /**
   * Creates a new isolate.
   *
   * @throws {TypeError} if `options.snapshot` is not an `ExternalCopy` of
   * an ArrayBuffer.
   * @throws {UsageError} if `options.snapshot`'s bytes are not a snapshot
   * this ivm made ("not a usable snapshot: ...").
   */
  constructor(options?: IsolateOptions);

  /**
   * The total CPU time spent in this isolate, in nanoseconds. CPU time is
   * the amount of time the isolate has spent actively doing work on the
   * CPU.
   *
   * Note that CPU time may vary drastically if there is contention for the
   * CPU. This could occur if other processes are trying to do work, or if
   * you have more than require('os').cpus().length isolates currently doing
   * work in the same nodejs process.
   */
  readonly cpuTime: bigint;

  /**
   * Flag that indicates whether this isolate has been disposed (by
   * `dispose()`, or by ivm after it breached its memory limit).
   */
  readonly isDisposed: boolean;

  /**
   * The total wall time spent in this isolate, in nanoseconds. Wall time is
   * the amount of time the isolate has been running, including passive time
   * spent waiting (think "wall" like a clock on the wall). For instance, if
   * an isolate makes a call into another isolate, wall time will continue
   * increasing while CPU time will remain the same.
   */
  readonly wallTime: bigint;

  /**
   * Returns the total count of active `Reference` instances that belong to
   * this isolate. Note that in certain cases many `Reference` instances in
   * JavaScript will point to the same underlying reference handle, in which
   * case this number will only reflect the underlying reference handle. This
   * also includes the underlying handles held by `Script` and `Context`
   * objects.
   */
  readonly referenceCount: number;

  /**
   * Makes a snapshot of a heap after running `scripts` in order, for
   * `new Isolate({ snapshot })`: every context of such an isolate starts
   * with the scripts' globals, without running them again. Synchronous: it
   * blocks while a separate Node process (the same Node binary and addon
   * file) runs the scripts.
   *
   * @param scripts - The scripts, each with its `code` and optional origin
   * @param warmup_script - Optional script to "warmup" the snapshot by
   * triggering code compilation; its side effects are not kept
   * @param options - ivm only (isolated-vm ignores a third argument): the
   * limits the scripts run under
   * @throws the error a script threw (a `TypeError` stays a `TypeError`)
   * @throws {TimeoutError} if the scripts ran past `options.timeout`
   * @throws {MemoryLimitError} if they used more than `options.memoryLimit`
   * @throws {UsageError} if the snapshot process could not be started or
   * failed
   */
  static createSnapshot(
    scripts: SnapshotScriptInfo[],
    warmup_script?: string,
    options?: SnapshotOptions,
  ): ExternalCopy<ArrayBuffer>;

  /**
   * Compiles a script in this isolate; the `Script` can then run in any
   * context of this isolate. The promise rejects with the `SyntaxError` of
   * code that does not compile.
   *
   * With `produceCachedData` the Script has `cachedData`, V8's code cache;
   * given `cachedData`, it has `cachedDataRejected` (see
   * `CachedDataOptions`). A `cachedData` that is not an `ExternalCopy` of an
   * ArrayBuffer rejects with a `TypeError`.
   */
  compileScript(code: string, scriptInfo?: ScriptInfo): Promise<Script>;

  /**
   * Synchronous form of `compileScript`: compiles a script in this isolate,
   * blocking until it is done.
   *
   * @throws {TypeError} if `cachedData` is not an `ExternalCopy` of an
   * ArrayBuffer, or `produceCachedData` not a boolean.
   */
  compileScriptSync(code: string, scriptInfo?: ScriptInfo): Script;

  /**
   * Compiles an ECMAScript module in this isolate; the `Module` can then be
   * instantiated in one context of this isolate. The promise rejects with
   * the `SyntaxError` of code that does not compile.
   *
   * `cachedData` and `produceCachedData` work as for `compileScript`, the
   * Module getting `cachedData` and `cachedDataRejected`. `meta` can only be
   * given from inside the isolate, as in isolated-vm: from Node it rejects
   * with `UsageError`.
   */
  compileModule(code: string, options?: CompileModuleOptions): Promise<Module>;

  /**
   * Synchronous form of `compileModule`.
   *
   * @throws {TypeError} if `cachedData` is not an `ExternalCopy` of an
   * ArrayBuffer, or `produceCachedData` not a boolean.
   */
  compileModuleSync(code: string, options?: CompileModuleOptions): Module;

  /**
   * Creates a new context (its own global object and built-ins) in this
   * isolate. `codeGeneration` (node:vm's option) can forbid code generation
   * from strings and WebAssembly in it; `inspector: true` shows it to the
   * isolate's inspector, under `name`.
   */
  createContext(options?: ContextOptions): Promise<Context>;

  /**
   * Synchronous form of `createContext`.
   *
   * @throws {TypeError} if `codeGeneration` is not an object of booleans,
   * or `name` not a string.
   */
  createContextSync(options?: ContextOptions): Context;

  /**
   * Opens a Chrome DevTools protocol session with this isolate's inspector
   * (the isolate must have been made with `inspector: true`; its contexts
   * are seen by the inspector when made with `inspector: true`). Send the
   * protocol's requests with `dispatchProtocolMessage`, and receive its
   * answers by assigning `onResponse` and `onNotification`; `dispose()` the
   * session when done. An open session does not keep Node's event loop
   * alive.
   *
   * ```js
   * let channel = isolate.createInspectorSession();
   * ws.on('message', m => channel.dispatchProtocolMessage(String(m)));
   * channel.onResponse = (callId, message) => ws.send(message);
   * channel.onNotification = (message) => ws.send(message);
   * ```
   *
   * @throws {UsageError} if the isolate was made without `inspector: true`.
   * @throws {DisposedError} if the isolate is disposed.
   */
  createInspectorSession(): InspectorSession;

  /**
   * Serves this isolate's inspector to Chrome DevTools (an ivm addition to
   * isolated-vm's API): a WebSocket server on `127.0.0.1:port` (`0`, the
   * default, takes a free port) whose every connection is a session. Open
   * `devtoolsUrl` in Chrome, connect any protocol client to
   * `webSocketUrl`, or add `127.0.0.1:port` to `chrome://inspect`, which
   * finds the isolate through the server's `/json/list`. The server runs
   * on a thread of its own and does not keep Node's event loop alive;
   * `close()` it when done.
   *
   * Only clients on this machine can connect, but any of them can do
   * anything in the isolate: serve the inspector only where that is safe.
   *
   * @param port - An integer from 0 to 65535; 0 by default.
   * @throws {TypeError} if `port` is not an integer from 0 to 65535.
   * @throws {IoError} if the port cannot be listened on (it is in use).
   * @throws {UsageError} if the isolate was made without `inspector: true`.
   * @throws {DisposedError} if the isolate is disposed.
   */
  startInspectorServer(port?: number): InspectorServer;

  /**
   * Destroys this isolate and invalidates all references obtained from it.
   * Calls in progress in it fail with `DisposedError`, as do later ones.
   */
  dispose(): void;

  /**
   * Returns heap statistics from v8.
   *
   * The return value is almost identical to the nodejs function
   * v8.getHeapStatistics().
   *
   * See: https://nodejs.org/api/v8.html#v8getheapstatistics.
   *
   * This function returns one additional property:
   * "externally_allocated_size" which is the total amount of currently
   * allocated memory which is not included in the v8 heap but counts
   * against this isolate's "memoryLimit".
   *
   * ArrayBuffer instances over a certain size are externally allocated and
   * will be counted here.
   */
  getHeapStatistics(): Promise<HeapStatistics>;

  /**
   * Synchronous form of `getHeapStatistics`.
   */
  getHeapStatisticsSync(): HeapStatistics;

  /**
   * Start a CPU profiler in the isolate, for performance profiling. It
   * only collects cpu profiles when the isolate is active in a thread.
   * Throws if the isolate is disposed.
   */
  startCpuProfiler(title: string): void;

  /**
   * Stop a CPU profiler previously started using the same title. It
   * returns an array of profiles, one per time the isolate was entered on
   * a thread while the title was profiled (none for a title never
   * started).
   */
  stopCpuProfiler(title: string): Promise<ThreadCpuProfile[]>;
}

/**
 * A CPU profile of one entry into the isolate, and the thread it ran on.
 */
export type ThreadCpuProfile = {
  /** The thread the isolate ran on (a number per thread of the process). */
  threadId: number;
  profile: CpuProfile;
};

/**
 * A CPU profile, in the DevTools protocol's `Profiler.Profile` format (as
 * isolated-vm gives it: `scriptId` is a number and each of `timeDeltas`
 * counts from `startTime`).
 */
export type CpuProfile = {
  /** When profiling started, in microseconds. */
  startTime: number;
  endTime: number;
  /** The id of the node each sample found running. */
  samples: number[];
  /** When each sample was taken, in microseconds after `startTime`. */
  timeDeltas: number[];
  nodes: Array<{
    id: number;
    hitCount: number;
    children: number[];
    callFrame: {
      functionName: string;
      /** The `filename` of the script. */
      url: string;
      scriptId: number;
      lineNumber: number;
      columnNumber: number;
    };
    /** Why V8 did not optimize the function, when it did not. */
    bailoutReason?: string;
  }>;
};

/**
 * Options of `new Isolate(options)`.
 */
export type IsolateOptions = {
  /**
   * Memory limit that this isolate may use, in MB. Note that this is more
   * of a guideline instead of a strict limit. A determined attacker could
   * use 2-3 times this limit before their script is terminated. Against
   * non-hostile code this limit should be pretty close. The default is
   * 128MB; a whole number from 8 to 8589934591 (2^53 − 1 bytes' worth).
   * Anything else throws: a TypeError if it is not a number, a RangeError
   * if it is out of range.
   */
  memoryLimit?: number;

  /**
   * Enable v8 inspector support in this isolate, for
   * `createInspectorSession()` and `startInspectorServer()`.
   */
  inspector?: boolean;

  /**
   * A snapshot created from `createSnapshot` with which to initialize the
   * heap of this isolate.
   */
  snapshot?: ExternalCopy<ArrayBuffer>;

  /**
   * Callback to be invoked when a *very bad* error occurs. If this is
   * invoked it means that v8 has lost all control over the isolate, and
   * all resources in use are totally unrecoverable. If you receive this
   * error you should log the error, stop serving requests, finish
   * outstanding work, and end the process by calling `process.abort()`.
   */
  onCatastrophicError?: (message: string) => void;
};

/**
 * Options of `isolate.createContext(options)`.
 */
export type ContextOptions = {
  /**
   * Enable the v8 inspector for this context: the isolate's inspector
   * sessions see it (and its scripts). Without the isolate's inspector
   * (`new Isolate({ inspector: true })`) nothing sees it.
   */
  inspector?: boolean;

  /**
   * The context's name in the inspector (node:vm's option); "ivm context
   * N" by default.
   */
  name?: string;

  /**
   * The context's origin in the inspector, a URL such as
   * "https://example.com" (node:vm's option, for display).
   */
  origin?: string;

  /**
   * node:vm's code generation controls (an ivm addition to isolated-vm's
   * options). Code compiled from Node (`eval`, `compileScript`, ...) always
   * runs; these only govern what the context's own code may compile.
   */
  codeGeneration?: {
    /**
     * If set to false any calls to `eval` or function constructors
     * (`Function`, `GeneratorFunction`, etc) will throw an `EvalError`.
     * Default: true.
     */
    strings?: boolean;

    /**
     * If set to false any attempt to compile a WebAssembly module will
     * throw a `WebAssembly.CompileError`. Default: true.
     */
    wasm?: boolean;
  };
};

/**
 * What `isolate.getHeapStatistics()` returns: v8's heap statistics of the
 * isolate, in bytes (counts for the `number_of_…` fields).
 */
export type HeapStatistics = {
  /** Bytes v8 has allocated for the heap (which may exceed what is used). */
  total_heap_size: number;
  /** Bytes of the heap that hold executable code. */
  total_heap_size_executable: number;
  /** Bytes of the heap actually backed by physical memory. */
  total_physical_size: number;
  /** Bytes still available to the heap before its limit. */
  total_available_size: number;
  /** Bytes of the heap that live objects use. */
  used_heap_size: number;
  /** The heap's limit, in bytes, derived from the isolate's `memoryLimit`. */
  heap_size_limit: number;
  /** Bytes currently allocated by v8 through malloc. */
  malloced_memory: number;
  /** The most bytes v8 has allocated through malloc at once. */
  peak_malloced_memory: number;
  /** Whether v8 overwrites freed heap memory with a pattern (0 or 1). */
  does_zap_garbage: number;
  /** The number of contexts alive in the isolate. */
  number_of_native_contexts: number;
  /** The number of contexts released but not collected yet. */
  number_of_detached_contexts: number;
  /** Bytes used for global handles (references from outside the heap). */
  total_global_handles_size: number;
  /** Bytes of `total_global_handles_size` in use. */
  used_global_handles_size: number;
  /** Bytes of memory outside the heap held by heap objects. */
  external_memory: number;

  /**
   * The total amount of currently allocated memory which is not included in
   * the v8 heap but counts against this isolate's "memoryLimit".
   */
  externally_allocated_size: number;
};

/**
 * Options of `isolate.compileModule(code, options)`.
 */
export type CompileModuleOptions = ScriptInfo & {
  /**
   * Callback which will be invoked the first time this module accesses
   * `import.meta`. The `meta` object will be passed as the first argument.
   * This option may only be used when invoking `compileModule` from within
   * the same isolate.
   */
  meta?: (meta: any) => void;
};

/**
 * A context is a sandboxed execution environment within an isolate. Each
 * context contains its own built-in objects and global space. Contexts are
 * made by `isolate.createContext()`.
 */
export declare class Context {
  private __ivm_context: undefined;
  private constructor();

  /**
   * `Reference` to this context's global object. Note that if you call
   * `context.release()` the global reference will be released as well.
   */
  readonly global: Reference<Record<number | string | symbol, any>>;

  /**
   * Compiles and executes a script within a context. This will return the
   * last value evaluated, as long as that value was transferable, otherwise
   * `undefined` will be returned (use the `copy`, `externalCopy` or
   * `reference` options to get other values out). A `timeout` that runs out
   * rejects with `TimeoutError`, a memory limit breached with
   * `MemoryLimitError`; exceptions thrown by the code reject the promise
   * as the same kind of error (or the very primitive that was thrown).
   *
   * With `promise: true` a promise returned by the code is followed, and
   * this resolves with its settled value.
   */
  eval<Options extends ContextEvalOptions>(
    code: string, options?: Options
  ): Promise<ResultTypeSync<Options>>; // `ResultTypeSync` used intentionally

  /**
   * Fire-and-forget form of `eval`: queues the code and returns at once;
   * its result and errors are ignored.
   */
  evalIgnored(code: string, options?: ContextEvalOptions): void;

  /**
   * Synchronous form of `eval`: blocks Node until the code has run and
   * returns its result (or throws its error).
   *
   * With `promise: true` it returns a Promise of the settled value, as
   * isolated-vm does. ivm settles the code's promise within the call (its
   * microtasks run); a promise that only host work could settle rejects
   * with a `UsageError` (use the async form for that).
   */
  evalSync<Options extends ContextEvalOptions>(
    code: string, options?: Options
  ): ResultTypeSync<Options>;

  /**
   * Compiles and runs code as if it were inside a function, similar to the
   * seldom-used `new Function(code)` constructor. You can pass arguments to
   * the function and they will be available as `$0`, `$1`, and so on. You
   * can also use `return` from the code.
   */
  evalClosure<Options extends ContextEvalClosureOptions>(
    code: string, arguments?: ArgumentsTypeBidirectional<Options>, options?: Options
  ): Promise<ResultTypeBidirectionalSync<Options>>; // `ResultTypeBidirectionalSync` used intentionally

  /**
   * Fire-and-forget form of `evalClosure`: queues the call and returns at
   * once; its result and errors are ignored.
   */
  evalClosureIgnored<Options extends ContextEvalClosureOptions>(
    code: string, arguments?: ArgumentsTypeBidirectional<Options>, options?: Options
  ): void;

  /**
   * Synchronous form of `evalClosure`: blocks Node until the code has run.
   * See `evalSync` about `result: { promise: true }`.
   */
  evalClosureSync<Options extends ContextEvalClosureOptions>(
    code: string, arguments?: ArgumentsTypeBidirectional<Options>, options?: Options
  ): ResultTypeBidirectionalSync<Options>;

  /**
   * Releases this reference to the context. You can call this to free up v8
   * resources immediately, or you can let the garbage collector handle it
   * when it feels like it. Note that if there are other references to this
   * context it will not be disposed. This only affects this reference to
   * the context.
   */
  release(): void;
}

/**
 * Options of `context.eval(code, options)` and its forms.
 *
 * `cachedData` and `produceCachedData` are taken, as isolated-vm takes them
 * here, and checked (a `cachedData` that is not an `ExternalCopy` of an
 * ArrayBuffer throws a `TypeError`), but no cache is consumed or made:
 * the result is the value alone, with nowhere to report one, in
 * isolated-vm as in ivm. Use `compileScript` for code caches.
 */
export type ContextEvalOptions = CachedDataOptions & RunOptions & ScriptOrigin & TransferOptions;

/**
 * Options of `context.evalClosure(code, arguments, options)` and its forms.
 * (ivm takes `filename` from the `ScriptOrigin`, not the offsets.)
 * `cachedData` and `produceCachedData` are checked and unused, as for
 * `eval`.
 */
export type ContextEvalClosureOptions = CachedDataOptions & RunOptions & ScriptOrigin & TransferOptionsBidirectional;

/**
 * A script is a compiled chunk of JavaScript which can be executed in any
 * context within a single isolate. Scripts are made by
 * `isolate.compileScript()`.
 */
export declare class Script {
  private __ivm_script: undefined;
  private constructor();

  /**
   * V8's code cache of the script, when it was compiled with
   * `produceCachedData: true` (and, if `cachedData` was given too, that was
   * rejected). Absent otherwise.
   */
  cachedData?: ExternalCopy<ArrayBuffer>;

  /**
   * Whether V8 rejected the `cachedData` the script was compiled with (made
   * by another V8 version, or for other source). Absent when no
   * `cachedData` was given.
   */
  cachedDataRejected?: boolean;

  /**
   * Releases the reference to this script, allowing the script data to be
   * garbage collected. Functions and data created in the isolate by
   * previous invocations to `script.run(...)` will still be alive in their
   * respective contexts-- this only means that you can't invoke
   * `script.run(...)` again with this reference.
   */
  release(): void;

  /**
   * Runs a given script within a context. This will return the last value
   * evaluated in a given script, as long as that value was transferable,
   * otherwise `undefined` will be returned. For instance if your script was
   * "let foo = 1; let bar = 2; bar = foo + bar" then the return value will
   * be 3 because that is the last expression.
   */
  run<Options extends ScriptRunOptions>(context: Context, options?: Options): ResultTypeAsync<Options>;

  /**
   * Fire-and-forget form of `run`: queues the run and returns at once; its
   * result and errors are ignored.
   */
  runIgnored(context: Context, options?: ScriptRunOptions): void;

  /**
   * Synchronous form of `run`: blocks Node until the script has run. See
   * `Context#evalSync` about `promise: true`.
   */
  runSync<Options extends ScriptRunOptions>(context: Context, options?: Options): ResultTypeSync<Options>;
}

/**
 * Options of `script.run(context, options)` and its forms.
 */
export type ScriptRunOptions = RunOptions & ReleaseOptions & TransferOptions;

/**
 * A JavaScript module. Note that a Module can only run in the isolate which
 * created it. Modules are made by `isolate.compileModule()`; the class has
 * no public constructor.
 */
export declare class Module {
  private __ivm_module: undefined;
  private constructor();

  /**
   * V8's code cache of the module, when it was compiled with
   * `produceCachedData: true` (and, if `cachedData` was given too, that was
   * rejected). Absent otherwise.
   */
  cachedData?: ExternalCopy<ArrayBuffer>;

  /**
   * Whether V8 rejected the `cachedData` the module was compiled with.
   * Absent when no `cachedData` was given.
   */
  cachedDataRejected?: boolean;

  /**
   * A read-only array of all dependency specifiers the module has.
   */
  readonly dependencySpecifiers: string[];

  /**
   * Returns a Reference containing all exported values: the module's
   * namespace object, whose bindings are live. Available once the module
   * is instantiated; before that, reading it throws `UsageError`.
   */
  readonly namespace: Reference<any>;

  /**
   * Instantiate the module together with all its dependencies. Calling this
   * more than once on a single module will have no effect.
   * @param context The context the module should use.
   * @param resolveCallback This callback is responsible for resolving all
   * direct and indirect dependencies of this module. It accepts two
   * parameters: specifier and referrer. It must return a Module instance or
   * a promise which will be used to satisfy the dependency.
   *
   * The callback runs on Node's thread; `referrer` is the Module object it
   * returned for the importing module (or the module `instantiate` was
   * called on). What it throws, or the reason its promise rejects with, is
   * what the returned promise rejects with; an answer that is not a Module
   * rejects it with a `TypeError`. A module linked already into `context`
   * is not asked about again.
   */
  instantiate(
    context: Context,
    resolveCallback: (
      specifier: string,
      referrer: Module
    ) => Module | Promise<Module>
  ): Promise<void>;

  /**
   * Synchronous form of `instantiate`; `resolveCallback` must return a
   * Module (a promise of one throws a `TypeError`).
   */
  instantiateSync(
    context: Context,
    resolveCallback: (specifier: string, referrer: Module) => Module
  ): void;

  /**
   * Evaluate the module and return the last expression (same as
   * script.run). If evaluate is called more than once on the same module
   * the return value from the first invocation will be returned (or
   * thrown).
   *
   * Top-level `await` is waited for: the promise settles when the module's
   * evaluation has (within `timeout`), with `undefined` or the module's
   * exception. Of the options only `timeout` is read, as in isolated-vm.
   * @param options Optional
   */
  evaluate(options?: ScriptRunOptions): Promise<Transferable>;

  /**
   * Synchronous form of `evaluate`: blocks Node until the module (and its
   * top-level `await`) is done. It cannot wait on Node itself (an async
   * `Callback`): a top-level `await` on one throws `UsageError`; use
   * `evaluate` for that.
   */
  evaluateSync(options?: ScriptRunOptions): Transferable;

  /**
   * Releases this module. This behaves the same as other `.release()`
   * methods.
   */
  release(): void;
}

/**
 * A instance of Reference is a pointer to a value stored in any isolate:
 * `new Reference(value)` refers to a Node value, and the methods that get
 * values out of an isolate make References to values in that isolate.
 */
export declare class Reference<T = any> {
  private __ivm_reference: T;

  /**
   * A reference to `value`, a Node value, which may be passed into
   * isolates (where it arrives as a Reference too). It grants calling the
   * value (if it is a function) and reading and writing its own data
   * properties, nothing else: inherited properties and getters read as
   * `undefined` or throw, a function's properties are unreachable, and a
   * Proxy is refused. Everything reached through it carries its grant.
   *
   * @param options `unsafeInherit` (isolated-vm's) also lets reads find
   * inherited properties; `accessors` (ivm's) lets reads run getters. Both
   * default to `false`; code in an isolate cannot widen them.
   */
  constructor(value: T, options?: { unsafeInherit?: boolean; accessors?: boolean });

  /**
   * This is the typeof the referenced value, and is available at any time
   * from any isolate. Note that this differs from the real typeof operator
   * in that null is "null", and Symbols are "object".
   */
  readonly typeof: string;

  /**
   * Creates a copy of the referenced value and internalizes it into this
   * isolate. This uses the same copy rules as ExternalCopy.
   */
  copy(): Promise<T>;

  /**
   * Creates a copy of the referenced value and internalizes it into this
   * isolate. This uses the same copy rules as ExternalCopy.
   *
   * @return JavaScript value of the reference.
   */
  copySync(): T;

  /**
   * Will attempt to return the actual value or object pointed to by this
   * reference. Note that in order to call this function the reference must
   * be owned by the current isolate, otherwise an error (a `UsageError`)
   * will be thrown.
   */
  deref(options?: ReleaseOptions): T;

  /**
   * Returns an object, which when passed to another isolate will cause that
   * isolate to dereference the handle. Only references into an isolate can
   * be dereferenced into it (a `UsageError` otherwise).
   */
  derefInto(options?: ReleaseOptions): Dereference<T>;

  /**
   * Releases this reference. If you're passing around a lot of references
   * between isolates it's wise to release the references when you are
   * done. Otherwise you may run into issues with isolates running out of
   * memory because other isolates haven't garbage collected recently. After
   * calling this method all attempts to access the reference will throw an
   * error (a `ReleasedError`).
   */
  release(): void;

  /**
   * Delete a property from this reference, as if using `delete
   * reference[property]`
   */
  delete(property: ReferenceKey<T>): Promise<void>;

  /**
   * Fire-and-forget form of `delete`.
   */
  deleteIgnored(property: ReferenceKey<T>): void;

  /**
   * Synchronous form of `delete`.
   */
  deleteSync(property: ReferenceKey<T>): void;

  /**
   * Will access a reference as if using reference[property] and return a
   * reference to that value (primitives come back as themselves).
   *
   * Only an own property of the object is read (an inherited or missing
   * one is `undefined`). If the object is a proxy, or if the property is a
   * getter, this method will throw (a `UsageError`) unless the `accessors`
   * option is true.
   */
  get<Options extends ReferenceGetOptions, Key extends ReferenceKey<T>>(
    property: Key, options?: Options): ResultTypeAsync<Options & FallbackReference, T[Key]>;

  /**
   * Synchronous form of `get`.
   */
  getSync<Options extends ReferenceGetOptions, Key extends ReferenceKey<T>>(
    property: Key, options?: Options): ResultTypeSync<Options & FallbackReference, T[Key]>;

  /**
   * Will write `value` to `reference[property]`, as if using
   * `reference[property] = value`. The value must be transferable, or
   * transferred with `options`.
   */
  set<Options extends TransferOptions, Key extends ReferenceKey<T>>(
    property: Key, value: ArgumentType<Options, T[Key]>, options?: Options): Promise<void>;

  /**
   * Fire-and-forget form of `set`.
   */
  setIgnored<Options extends TransferOptions, Key extends ReferenceKey<T>>(
    property: Key, value: ArgumentType<Options, T[Key]>, options?: Options): void;

  /**
   * Synchronous form of `set`.
   */
  setSync<Options extends TransferOptions, Key extends ReferenceKey<T>>(
    property: Key, value: ArgumentType<Options, T[Key]>, options?: Options): void;

  /**
   * Will attempt to invoke an object as if it were a function. If the
   * return value is transferable it will be returned to the called of
   * apply, otherwise a `Reference` to it is returned (unless `result`
   * options say otherwise).
   */
  apply<Options extends ReferenceApplyOptions>(
    receiver?: ArgumentType<Options['arguments'], ApplyArgumentThis<T>>,
    arguments?: ArgumentsTypeBidirectional<Options, ApplyArguments<T>>,
    options?: Options
  ): ResultTypeBidirectionalAsync<Options & FallbackReference, ApplyResult<T>>;

  /**
   * Fire-and-forget form of `apply`: queues the call and returns at once;
   * its result and errors are ignored.
   */
  applyIgnored<Options extends ReferenceApplyOptions>(
    receiver?: ArgumentType<Options['arguments'], ApplyArgumentThis<T>>,
    arguments?: ArgumentsTypeBidirectional<Options & FallbackReference, ApplyArguments<T>>,
    options?: Options
  ): void;

  /**
   * Synchronous form of `apply`: blocks Node until the call returns. See
   * `Context#evalSync` about `result: { promise: true }`.
   */
  applySync<Options extends ReferenceApplyOptions>(
    receiver?: ArgumentType<Options['arguments'], ApplyArgumentThis<T>>,
    arguments?: ArgumentsTypeBidirectional<Options, ApplyArguments<T>>,
    options?: Options
  ): ResultTypeBidirectionalSync<Options & FallbackReference, ApplyResult<T>>;

  /**
   * `applySyncPromise` is a special version of `applySync` which may only
   * be invoked on functions belonging to the default isolate AND may only
   * be invoked from a non-default thread. Functions invoked in this way may
   * return a promise and the invoking isolate will wait for that promise to
   * resolve before resuming execution.
   *
   * Called from Node (the default thread) it throws `UsageError`, as in
   * isolated-vm.
   */
  applySyncPromise<Options extends ReferenceApplyOptions>(
    receiver?: ArgumentType<Options['arguments'], ApplyArgumentThis<T>>,
    arguments?: ArgumentsTypeBidirectional<Options, ApplyArguments<T>>,
    options?: Options
  ): ResultTypeBidirectionalSync<Options & FallbackReference, ApplyResult<T>>;
}

/**
 * Dummy type referencing a type dereferenced into a different Isolate:
 * what `reference.derefInto()` returns. A type only: the module exports no
 * such class.
 */
export interface Dereference<T> {
  /** Brands the type; no such property exists. */
  readonly [dereferenceBrand]: T;
}

/**
 * Options of `reference.get(property, options)` and `getSync`.
 */
export type ReferenceGetOptions = TransferOptions & {
  /**
   * Whether or not to invoke accessors and proxies on the underlying object.
   * Note that there is no way to supply a timeout to this function so only
   * use this option in trusted code.
   */
  accessors?: boolean;
};

/**
 * Options of `reference.apply(receiver, arguments, options)` and its forms.
 */
export type ReferenceApplyOptions = RunOptions & TransferOptionsBidirectional;

/**
 * Instances of this class represent some value that is stored outside of
 * any v8 isolate. This value can then be quickly copied into any isolate.
 */
export declare class ExternalCopy<T = any> {
  private __ivm_external_copy: T;

  /**
   * Primitive values can be copied exactly as they are. Date objects will
   * be copied as as Dates. ArrayBuffers, TypedArrays, and DataViews will be
   * copied in an efficient format. SharedArrayBuffers will simply copy a
   * reference to the existing memory and when copied into another isolate
   * the new SharedArrayBuffer will point to the same underlying data.
   *
   * All other objects will be copied in seralized form using the
   * [structured clone
   * algorithm](https://developer.mozilla.org/en-US/docs/Web/API/Web_Workers_API/Structured_clone_algorithm).
   */
  constructor(value: T, options?: ExternalCopyOptions);

  /**
   * Static property which will return the total number of bytes that ivm
   * has allocated outside of v8 due to instances of `ExternalCopy`.
   */
  static readonly totalExternalSize: number;

  /**
   * Internalizes the ExternalCopy data into this isolate.
   *
   * @return JavaScript value of the external copy.
   */
  copy(options?: ExternalCopyCopyOptions): T;

  /**
   * Returns an object, which when passed to another isolate will cause that
   * isolate to internalize a copy of this value.
   */
  copyInto(options?: ExternalCopyCopyOptions): Copy<T>;

  /**
   * Releases the reference to this copy. If there are other references to
   * this copy elsewhere the copy will still remain in memory, but this
   * handle will no longer be active.
   */
  release(): void;
}

/**
 * Dummy type referencing a type copied into a different Isolate: what
 * `externalCopy.copyInto()` returns. A type only: the module exports no
 * such class.
 */
export interface Copy<T> {
  /** Brands the type; no such property exists. */
  readonly [copyBrand]: T;
}

/**
 * Options of `new ExternalCopy(value, options)`.
 */
export type ExternalCopyOptions = {
  /**
   * An array of `ArrayBuffer` instances to transfer ownership. This behaves
   * in a similar way to
   * [`postMessage`](https://developer.mozilla.org/en-US/docs/Web/API/Worker/postMessage).
   */
  transferList?: any[];
  /**
   * If true this will release ownership of the given resource from this
   * isolate. This operation completes in constant time since it doesn't
   * have to copy an arbitrarily large object. This only applies to
   * ArrayBuffer and TypedArray instances.
   */
  transferOut?: boolean;
};

/**
 * Options of `externalCopy.copy(options)` and `externalCopy.copyInto(options)`.
 */
export type ExternalCopyCopyOptions = ReleaseOptions & {
  /**
   * If true this will transfer the resource directly into this isolate,
   * invalidating the ExternalCopy handle: a copy of an ArrayBuffer (or one
   * holding buffers moved into it) hands its memory over, and later uses
   * throw "Array buffer is invalid"; any other copy is copied and stays
   * usable.
   */
  transferIn?: boolean;
};

/**
 * Callbacks can be used to create cross-isolate references to simple
 * functions. This can be easier and safer than dealing with the more
 * flexible `Reference` class. Arguments passed to and returned from
 * callbacks are always copied using the same method as `ExternalCopy`. When
 * transferred to another isolate, instances of `Callback` will turn into a
 * plain old function. Callbacks are created automatically when passing
 * functions to most ivm functions.
 */
export declare class Callback<T extends (...args: any[]) => any = any> {
  private __ivm_callback: T;

  /**
   * Wraps the Node function `value`, which runs on Node's thread whenever
   * an isolate calls it.
   */
  constructor(value: T, options?: CallbackOptions);
}

/**
 * Options of `new Callback(fn, options)`: how the isolate's calls wait for
 * the Node function. At most one may be set.
 */
export type CallbackOptions = {
  /**
   * Callback will be invoked asynchronously and will return a promise.
   */
  async?: boolean;

  /**
   * Callback will be invoked synchronously and will return a value
   * (default).
   */
  sync?: boolean;

  /**
   * Callback will be invoked asynchronously and will ignore the result
   * (including exceptions).
   */
  ignored?: boolean;

  // The following ensures only 1 invocation option is given.
} & ({
  async?: true;
  sync?: never;
  ignored?: never;
} | {
  async?: never;
  sync?: true;
  ignored?: never;
} | {
  async?: never;
  sync?: never;
  ignored?: true;
});

/**
 * node:vm's API over ivm isolates (also `require('ivm/vm')`): a program
 * moves from node:vm by changing its `require`, and its contexts become
 * real sandboxes.
 */
export declare const vm: typeof import('./vm');

/**
 * ivm's own (isolated-vm has no pool): a warm pool of isolates, each with a
 * context, booted ahead of time (from a `snapshot`, typically) on a thread
 * of the pool's, so that a request takes a ready isolate instead of paying
 * for booting one. A checkout is never reused: releasing it hands it back
 * to be disposed and replaced on the pool's thread, so nothing one request
 * leaves in an isolate reaches the next.
 *
 * ```js
 * const pool = new ivm.IsolatePool({ size: 4, memoryLimit: 32, snapshot });
 * const checkout = await pool.checkout();
 * try {
 *   return await checkout.context.eval('handle()');
 * } finally {
 *   checkout.release();
 * }
 * ```
 */
export declare class IsolatePool {
  private __ivm_isolate_pool: undefined;

  /**
   * Boots `options.size` isolates, each with a context, before it returns
   * (so bad options throw here); afterwards the pool's thread keeps `size`
   * of them ready.
   *
   * @throws {TypeError} if `options.size` is not a positive integer, or as
   * `new Isolate(options)` throws for the other options
   * @throws {UsageError} if `options.snapshot`'s bytes are not a snapshot
   * this ivm made ("not a usable snapshot: ...").
   */
  constructor(options: IsolatePoolOptions);

  /** How many isolates the pool keeps ready. */
  readonly size: number;

  /** How many isolates are ready now. */
  readonly ready: number;

  /**
   * A ready isolate and its context, at once when one is ready (`ready >
   * 0`); when all are out, it blocks Node's thread until the pool's thread
   * has booted the next one (milliseconds). `checkout()` never blocks.
   */
  checkoutSync(): PooledIsolate;

  /**
   * A ready isolate and its context; when all are out, the Promise settles
   * once the pool's thread has booted the next one, without blocking
   * Node's thread. Waiting checkouts are served in the order they were
   * made.
   */
  checkout(): Promise<PooledIsolate>;
}

/**
 * Options of `new IsolatePool(options)`: `size`, and those of `new
 * Isolate(options)`, which every isolate of the pool is made with.
 */
export type IsolatePoolOptions = IsolateOptions & {
  /** How many isolates to keep ready: a positive integer. */
  size: number;
};

/**
 * One checkout of an `IsolatePool`: an isolate and a context in it, ready
 * for one request. Call `release()` when done: it hands the isolate back,
 * to be disposed (soon after, on the pool's thread; calls into it then
 * throw `DisposedError`) and replaced. A checkout that is never released
 * is handed back once it, its `isolate` and its `context` are all garbage
 * collected.
 */
export declare class PooledIsolate {
  private __ivm_pooled_isolate: undefined;

  /** The isolate, an ordinary `Isolate` (more contexts can be made in it). */
  readonly isolate: Isolate;

  /** A context of `isolate`, made when the isolate was booted. */
  readonly context: Context;

  /** Whether `release()` has been called. */
  readonly isReleased: boolean;

  /**
   * Hands the isolate back to the pool, which disposes it and boots a
   * replacement; `isolate` and `context` must not be used afterwards.
   * Calling it again does nothing.
   */
  release(): void;
}

/**
 * A Chrome DevTools protocol session with an isolate's inspector, made by
 * `isolate.createInspectorSession()`. Requests go in as JSON text with
 * `dispatchProtocolMessage`; the inspector's answers come out through
 * `onResponse` and `onNotification`, which are called on Node's thread
 * (the session's own properties, read when each message arrives, so they
 * can be assigned at any time; by default they do nothing). An exception
 * thrown by one of them is an uncaught exception, as from any event
 * handler.
 *
 * Messages are taken by the isolate while its JavaScript runs (between
 * statements), while it is idle, and while it is paused at a breakpoint.
 * Node's thread runs a `…Sync` call itself, so the messages such a call
 * makes reach the handlers only once it has returned: a `…Sync` call
 * paused at a breakpoint can be resumed only from elsewhere (an
 * `InspectorServer`'s client in another process) or by its `timeout`. Use
 * the async forms while a session debugs.
 */
export declare class InspectorSession {
  private constructor();

  /**
   * Sends a protocol request, such as
   * `'{"id":1,"method":"Debugger.enable"}'`, to the inspector. Requests are
   * taken in the order they were sent.
   *
   * @throws {TypeError} if `message` is not a string.
   * @throws {ReleasedError} if the session was disposed.
   * @throws {DisposedError} if its isolate was disposed.
   */
  dispatchProtocolMessage(message: string): void;

  /**
   * Ends the session: JavaScript it paused resumes, and its handlers are
   * not called again. Calling it again does nothing.
   */
  dispose(): void;

  /**
   * Called with each of the inspector's responses: `callId` is the `id` of
   * the request it answers, and `message` the whole response as JSON.
   */
  onResponse: (callId: number, message: string) => void;

  /**
   * Called with each of the inspector's events (`Debugger.paused`,
   * `Runtime.consoleAPICalled`...), as JSON.
   */
  onNotification: (message: string) => void;
}

/**
 * A WebSocket server for Chrome DevTools serving one isolate's inspector
 * on 127.0.0.1, made by `isolate.startInspectorServer()` (ivm's own;
 * isolated-vm has none). Its clients are protocol sessions; it also
 * answers DevTools' discovery requests (`/json/list`, `/json/version`).
 */
export declare class InspectorServer {
  private constructor();

  /** The port it listens on (the one picked when 0 was asked for). */
  readonly port: number;

  /**
   * Where a protocol client connects: `ws://127.0.0.1:PORT/ID`, where ID
   * is random and the server takes no other path.
   */
  readonly webSocketUrl: string;

  /** The address to open in Chrome to debug the isolate with DevTools. */
  readonly devtoolsUrl: string;

  /**
   * Stops the server and closes its connections, which resumes JavaScript
   * their sessions paused. Calling it again does nothing.
   */
  close(): void;
}

/**
 * V8's code cache, produced and consumed by `compileScript` and
 * `compileModule`. You can produce cached data and use the data in later
 * compilations of the same source to speed up parsing, in any isolate of
 * the same V8 version; you can even save this data to disk and use it in a
 * different process. You can set both `cachedData` and `produceCachedData`,
 * in which case new cached data will only be produced if the data supplied
 * was rejected. (`eval` and `evalClosure` take these options but neither
 * consume nor produce a cache, as in isolated-vm.)
 */
export type CachedDataOptions = {
  /**
   * Cached compilation data from a previous compilation of the same
   * source: an `ExternalCopy` of an ArrayBuffer (anything else throws a
   * `TypeError`). The compiled Script or Module has `cachedDataRejected`,
   * true if V8 rejected the data (the code is compiled anyway).
   */
  cachedData?: ExternalCopy<ArrayBuffer>;
  /**
   * Produce V8 cache data: the compiled Script or Module gets `cachedData`
   * set to an ExternalCopy of an ArrayBuffer. Unlike node:vm's option of
   * the same name, `cachedDataProduced` is never set.
   */
  produceCachedData?: boolean;
};

/**
 * What a Script or Module compiled with `CachedDataOptions` carries.
 */
export type CachedDataResult = {
  /** The cached data produced. */
  cachedData?: ExternalCopy<ArrayBuffer>;
  /** Whether the `cachedData` given was rejected. */
  cachedDataRejected?: boolean;
  /**
   * Declared by isolated-vm, which never sets it; neither does ivm.
   */
  producedCacheData?: boolean;
};

/**
 * The `release` option of functions that may release their handle once
 * done.
 */
export type ReleaseOptions = {
  /**
   * If true release() will automatically be called on this instance.
   */
  release?: boolean;
};

/**
 * Options of every function that runs code in an isolate.
 */
export type RunOptions = {
  /**
   * Maximum amount of time in milliseconds this script is allowed to run
   * before execution is canceled (with a `TimeoutError`; the isolate stays
   * usable). Default is no timeout, as is 0. From 0 to 2^53 − 1
   * (`Number.MAX_SAFE_INTEGER`), fractions allowed; anything else throws a
   * TypeError (not a number) or a RangeError (out of range).
   */
  timeout?: number;
};

/**
 * You may optionally specify information on compiled code's filename. This
 * is used in various debugging contexts within v8, including stack traces
 * and the inspector. It is recommended to use a valid URI scheme, for
 * example: `{ filename: 'file:///test.js' }`, otherwise some devtools may
 * malfunction.
 */
export type ScriptOrigin = {
  /**
   * Filename of this source code
   */
  filename?: string;

  /**
   * Column offset of this source code
   */
  columnOffset?: number;

  /**
   * Line offset of this source code
   */
  lineOffset?: number;
};

/**
 * One script of `Isolate.createSnapshot(scripts)`.
 */
export type SnapshotScriptInfo = ScriptOrigin & {
  /**
   * Source code to set up this snapshot
   */
  code: string;
};

/**
 * ivm's limits for `Isolate.createSnapshot` (isolated-vm has none, and
 * ignores this argument).
 */
export type SnapshotOptions = {
  /**
   * Memory the scripts may use, in MB (default 128).
   */
  memoryLimit?: number;

  /**
   * Time all the scripts together, warm-up included, may run, in
   * milliseconds (default 10000; 0 means the default).
   */
  timeout?: number;
};

/**
 * Options of `isolate.compileScript(code, options)`.
 */
export type ScriptInfo = CachedDataOptions & ScriptOrigin;

/**
 * Any function which moves data between isolates will accept these transfer
 * options. By default only *transferable* values may pass between isolates.
 * Without specifying one of these options the function may ignore the value,
 * throw, or wrap it in a reference depending on the context.
 *
 * More advanced situations like transferring ownership of `ArrayBuffer`
 * instances will require direct use of `ExternalCopy` or `Reference`.
 */
export type TransferOptions = {
  /**
   * Automatically proxy any returned promises between isolates. This can
   * be used in combination with the other transfer options.
   */
  promise?: boolean;

  /**
   * Automatically deep copy value
   */
  copy?: boolean;

  /**
   * Automatically wrap value in `ExternalCopy` instance
   */
  externalCopy?: boolean;

  /**
   * Automatically wrap value in `Reference` instance
   */
  reference?: boolean;

  // The following ensures only 1 transfer option is given.
} & ({
  copy?: true;
  externalCopy?: never;
  reference?: never;
} | {
  copy?: never;
  externalCopy?: true;
  reference?: never;
} | {
  copy?: never;
  externalCopy?: never;
  reference?: true;
});

/**
 * Transfer options of functions that move values both ways (arguments in,
 * a result out).
 */
export type TransferOptionsBidirectional = {
  /**
   * `TransferOptions` for the values going *into* this isolate.
   */
  arguments?: TransferOptions;
  /**
   * `TransferOptions` for the values coming *out* of this isolate.
   */
  result?: TransferOptions;
};

/**
 * The base of ivm's own errors; thrown errors of ivm are instances of one
 * of its subclasses. Its `name` is "Error" (as isolated-vm's errors are
 * plain Errors); tell the kinds apart with `instanceof` or `code`.
 * Exceptions thrown by code in an isolate are not IvmErrors: they reach
 * Node as the same kind of error (TypeError, RangeError...) with the same
 * message and stack, or as the very primitive that was thrown.
 */
export declare class IvmError extends Error {
  /** "ERR_IVM" here; each subclass has its own `ERR_IVM_…` code. */
  readonly code: string;
}

/**
 * A call's `timeout` ran out ("Script execution timed out."). The isolate
 * stays usable.
 */
export declare class TimeoutError extends IvmError {
  /** Always "ERR_IVM_TIMEOUT". */
  readonly code: 'ERR_IVM_TIMEOUT';
}

/**
 * A call's CPU time limit ran out. The isolate stays usable.
 */
export declare class CpuLimitError extends IvmError {
  /** Always "ERR_IVM_CPU_LIMIT". */
  readonly code: 'ERR_IVM_CPU_LIMIT';
}

/**
 * The isolate breached its `memoryLimit`; it has been disposed.
 */
export declare class MemoryLimitError extends IvmError {
  /** Always "ERR_IVM_MEMORY_LIMIT". */
  readonly code: 'ERR_IVM_MEMORY_LIMIT';
}

/**
 * The isolate was disposed (before or during the call).
 */
export declare class DisposedError extends IvmError {
  /** Always "ERR_IVM_DISPOSED". */
  readonly code: 'ERR_IVM_DISPOSED';
}

/**
 * The handle used (Reference, Context, Script, ExternalCopy...) was
 * released.
 */
export declare class ReleasedError extends IvmError {
  /** Always "ERR_IVM_RELEASED". */
  readonly code: 'ERR_IVM_RELEASED';
}

/**
 * The API was misused: a handle used with the wrong isolate, a nested
 * synchronous call that cannot be made, an invalid argument...
 */
export declare class UsageError extends IvmError {
  /** Always "ERR_IVM_USAGE". */
  readonly code: 'ERR_IVM_USAGE';
}

/**
 * A value could not be copied between isolates (not cloneable, or
 * malformed). At run time also a `TypeError`, with `name` "TypeError" and,
 * for a value with no copy, V8's message (`function f() {} could not be
 * cloned.`), as isolated-vm throws.
 */
export declare class TransferError extends IvmError {
  /** Always "ERR_IVM_TRANSFER". */
  readonly code: 'ERR_IVM_TRANSFER';
}

/**
 * The operation was canceled before it completed.
 */
export declare class CanceledError extends IvmError {
  /** Always "ERR_IVM_CANCELED". */
  readonly code: 'ERR_IVM_CANCELED';
}

/**
 * A feature of isolated-vm's that ivm does not support.
 */
export declare class UnsupportedError extends IvmError {
  /** Always "ERR_IVM_UNSUPPORTED". */
  readonly code: 'ERR_IVM_UNSUPPORTED';
}

/**
 * An operating system failure, such as a port that
 * `isolate.startInspectorServer()` cannot listen on.
 */
export declare class IoError extends IvmError {
  /** Always "ERR_IVM_IO". */
  readonly code: 'ERR_IVM_IO';
}

/**
 * The module itself (`module.exports.default === module.exports`), so that
 * `import ivm from 'ivm'` works with or without `esModuleInterop`, and
 * `ivm.Reference<T>` names the type as with isolated-vm's typings: the
 * default export is the module's namespace, a value and types alike.
 */
export * as default from './index';

// The brands of the type-only `Copy` and `Dereference`, which nothing
// outside this file can name, so that only ivm makes values of them.
declare const copyBrand: unique symbol;
declare const dereferenceBrand: unique symbol;

// Keys `Reference` methods accept: isolated-vm's `keyof T`, less symbols
// (ivm takes strings and numbers as property keys).
type ReferenceKey<T> = Extract<keyof T, string | number>;

// Discriminating types for TransferOptions
type WithPromise = { promise: true };
type AsCopy = { copy: true };
type AsExternal = { externalCopy: true };
type AsReference = { reference: true };
type FallbackReference = { _reference: true };
type WithTransfer = AsCopy | AsExternal | AsReference;

// Wraps a type in Promise<> if the options specify { promise: true }
type CheckPromise<Options, Result> = Options extends WithPromise ? Promise<Result> : Result;

// Type of a single argument for functions that accept TransferOptions
type ArgumentType<Options, Type> =
  (Options extends WithTransfer ? Type | CheckPromise<Options, Type> :
  Type extends Transferable ? Type | CheckPromise<Options, Type> :
  Transferable | CheckPromise<Options, Transferable>) |
  Copy<Type> | Dereference<Type>;

// Return type for functions that accept TransferOptions
type ResultTypeBase<Options, Result> =
  Options extends AsCopy ? Result :
  Options extends AsExternal ? ExternalCopy<Result> :
  Options extends AsReference ? Reference<Result> :
  Result extends Transferable ? Result :
  Result extends void ? void :
  Options extends FallbackReference ? Reference<Result> :
  Transferable;
type ResultTypeAsync<Options extends TransferOptions, Result = any> = Promise<ResultTypeBase<Options, Result>>;
type ResultTypeSync<Options extends TransferOptions, Result = any> = CheckPromise<Options, ResultTypeBase<Options, Result>>;

// Arguments type for functions that accept TransferOptionsBidirectional
type ArgumentsTypeBidirectional<Options extends TransferOptionsBidirectional, Args extends any[] = any[]> = {
  [Key in keyof Args]: ArgumentType<Options['arguments'] extends TransferOptions ? Options['arguments'] : {}, Args[Key]>
};

// Result type for functions that accept TransferOptionsBidirectional
type ResultTypeBidirectionalBase<Options extends TransferOptionsBidirectional, Result> =
  ResultTypeBase<Options['result'] extends TransferOptions ? Options['result'] : {}, Result>;
type ResultTypeBidirectionalAsync<Options extends TransferOptionsBidirectional, Result = any> =
  Promise<ResultTypeBidirectionalBase<Options, Result>>;
type ResultTypeBidirectionalSync<Options extends TransferOptionsBidirectional, Result = any> =
  CheckPromise<Options['result'], ResultTypeBidirectionalBase<Options, Result>>;

// Types for `Reference.apply`
type ApplyArguments<Value> = Value extends (...args: infer Args) => unknown ? Args : any[];
type ApplyArgumentThis<Value> = Value extends (this: infer This, ...args: any) => unknown ? This : undefined | null;
type ApplyResult<Value> = Value extends (...args: any) => infer Result ? Result : unknown;
