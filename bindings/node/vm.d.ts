// `require('ivm/vm')` (also `ivm.vm`): node:vm's API over ivm isolates.
// Each context lives in an isolate of its own; a contextified object's
// properties are copied in before a run and the globals the code changed
// are copied back onto it after (see vm.js).

/** An object `createContext` contextified. */
export type Context = Record<string, any>;

export type CodeGeneration = {
  /** Whether `eval` and `new Function` may run. Default: true. */
  strings?: boolean;
  /** Whether WebAssembly may be compiled. Default: true. */
  wasm?: boolean;
};

export type CreateContextOptions = {
  name?: string;
  origin?: string;
  codeGeneration?: CodeGeneration;
  /** A context's promise jobs run at the end of each run: 'afterEvaluate'. */
  microtaskMode?: 'afterEvaluate';
  /** ivm's own: the memory limit of the context's isolate, in MB. */
  memoryLimit?: number;
};

export type ScriptOptions = {
  filename?: string;
  lineOffset?: number;
  columnOffset?: number;
  /** V8's code cache, from `createCachedData()` or `produceCachedData`. */
  cachedData?: NodeJS_ArrayBufferView;
  produceCachedData?: boolean;
};

/** A Buffer, TypedArray or DataView (no @types/node needed). */
type NodeJS_ArrayBufferView = ArrayBufferView;

export type CompileFunctionOptions = ScriptOptions & {
  /** The contextified object whose context the function is made in. */
  parsingContext?: Context;
};

export type RunningScriptOptions = ScriptOptions & {
  /** Milliseconds the run may take; past them it throws ERR_SCRIPT_EXECUTION_TIMEOUT. */
  timeout?: number;
  displayErrors?: boolean;
  /** Ctrl-C ends the run with ERR_SCRIPT_EXECUTION_INTERRUPTED. */
  breakOnSigint?: boolean;
};

export type RunningScriptInNewContextOptions = RunningScriptOptions & {
  contextName?: string;
  contextOrigin?: string;
  contextCodeGeneration?: CodeGeneration;
  /** ivm's own: the memory limit of the new context's isolate, in MB. */
  memoryLimit?: number;
};

export declare class Script {
  constructor(code: string, options?: ScriptOptions | string);
  /** Set when `cachedData` was given: whether V8 refused it. */
  readonly cachedDataRejected?: boolean;
  /** Set with `produceCachedData`. */
  readonly cachedDataProduced?: boolean;
  readonly cachedData?: Uint8Array;
  createCachedData(): Uint8Array;
  runInContext(contextifiedObject: Context, options?: RunningScriptOptions | number): any;
  runInNewContext(contextObject?: Context, options?: RunningScriptInNewContextOptions | number): any;
  runInThisContext(options?: RunningScriptOptions | number): any;
}

export declare function compileFunction(
  code: string,
  params?: string[],
  options?: CompileFunctionOptions,
): (...args: any[]) => any;
export declare function createContext<T extends Context = {}>(contextObject?: T, options?: CreateContextOptions): T;
export declare function createScript(code: string, options?: ScriptOptions | string): Script;
export declare function isContext(object: object): boolean;
export declare function runInContext(
  code: string,
  contextifiedObject: Context,
  options?: RunningScriptOptions | string,
  timeout?: number,
): any;
export declare function runInNewContext(
  code: string,
  contextObject?: Context,
  options?: RunningScriptInNewContextOptions | string,
  timeout?: number,
): any;
export declare function runInThisContext(code: string, options?: RunningScriptOptions | string): any;

export type ModuleStatus = 'unlinked' | 'linking' | 'linked' | 'evaluating' | 'evaluated' | 'errored';

export type SourceTextModuleOptions = {
  identifier?: string;
  /** The contextified object whose context the module lives in. */
  context?: Context;
  lineOffset?: number;
  columnOffset?: number;
  /**
   * Called once, when the module is linked, with an object whose own
   * properties become copies on the module's `import.meta`.
   */
  initializeImportMeta?: (meta: Record<string, unknown>, module: SourceTextModule) => void;
  /**
   * Answers the module's dynamic `import()`s with a module of the same
   * context, linked (ivm evaluates it).
   */
  importModuleDynamically?: (
    specifier: string,
    referrer: SourceTextModule,
    options: { attributes: Record<string, string> },
  ) => SourceTextModule | Promise<SourceTextModule>;
};

export type ModuleLinker = (
  specifier: string,
  referencingModule: SourceTextModule,
  extra: { attributes: Record<string, string> },
) => SourceTextModule | Promise<SourceTextModule>;

/** node:vm's SourceTextModule, in the context's isolate. */
export declare class SourceTextModule {
  constructor(code: string, options?: SourceTextModuleOptions);
  readonly identifier: string;
  readonly context: Context;
  readonly status: ModuleStatus | 'uninstantiated' | 'instantiated';
  readonly dependencySpecifiers: readonly string[];
  readonly error: any;
  /** Copies of the exports (functions as functions). */
  readonly namespace: Record<string, any>;
  link(linker: ModuleLinker): Promise<void>;
  evaluate(options?: { timeout?: number; breakOnSigint?: boolean }): Promise<void>;
}

/** The first experimental vm.Module: `url`, `instantiate()`, `evaluate()` to `{ result }`. */
export declare class Module extends SourceTextModule {
  constructor(code: string, options?: Omit<SourceTextModuleOptions, 'identifier'> & { url?: string });
  readonly url: string;
  readonly linkingStatus: 'unlinked' | 'linking' | 'linked';
  instantiate(): void;
  evaluate(options?: { timeout?: number; breakOnSigint?: boolean }): Promise<any>;
}

/** node:vm's SyntheticModule: exports Node sets, made by `evaluateCallback`. */
export declare class SyntheticModule extends SourceTextModule {
  constructor(
    exportNames: string[],
    evaluateCallback: (this: SyntheticModule) => void,
    options?: { identifier?: string; context?: Context },
  );
  setExport(name: string, value: any): void;
}
