// Compiled (never run) by types.test.js with `tsc --noEmit --strict`: uses
// of ivm's public API as isolated-vm users write them, which must
// type-check against bindings/node/index.d.ts, and misuses marked
// `@ts-expect-error`, which must not.

import ivm = require('../../bindings/node');
import * as star from '../../bindings/node';
import defaultIvm from '../../bindings/node';
import { Context, ExternalCopy, Isolate, Reference } from '../../bindings/node';

// No @types/node here: the little of Node's globals this file uses.
declare const console: { log(...args: any[]): void; error(...args: any[]): void };
declare function require(id: string): any;

function expectType<T>(value: T): T {
  return value;
}

// Every import form names the same classes, as values and as types
// (isolated-vm's users write `ivm.Reference<T>` after `import ivm from`).
expectType<typeof ivm.Isolate>(star.Isolate);
function typesThroughEveryImport(
  isolate: defaultIvm.Isolate,
  reference: defaultIvm.Reference<number>,
  options: defaultIvm.IsolateOptions,
): [ivm.Isolate, star.Reference<number>, ivm.IsolateOptions] {
  return [isolate, reference, options];
}
void typesThroughEveryImport;
expectType<typeof ivm.Isolate>(defaultIvm.Isolate);
expectType<typeof ivm>(ivm.default);
expectType<typeof Isolate>(ivm.Isolate);

// The seed example log-sandbox.js, as isolated-vm's README has it.
function logSandbox(): void {
  const isolate = new ivm.Isolate({ memoryLimit: 128 });
  const context = isolate.createContextSync();
  const jail = context.global;
  jail.setSync('global', jail.derefInto());
  const logCallback = function (...args: any[]) {
    console.log(...args);
  };
  context.evalClosureSync(
    `global.log = function(...args) {
      $0.applyIgnored(undefined, args, { arguments: { copy: true } });
    }`,
    [logCallback],
    { arguments: { reference: true } },
  );
  context.evalSync('log("hello world")');
  const hostile = isolate.compileScriptSync('while (true) {}');
  hostile.run(context).catch((err: unknown) => console.error(err));
}

// The seed example parallel-sum.js.
async function parallelSum(): Promise<number> {
  const sum = (min: number, max: number) => {
    let total = 0;
    for (let ii = min; ii < max; ++ii) total += ii;
    return total;
  };
  const num = Math.pow(2, 27);
  const numThreads = 4;
  const promises = Array(numThreads)
    .fill(undefined)
    .map(async function (_: unknown, ii: number) {
      const isolate = new ivm.Isolate();
      const context = await isolate.createContext();
      const script = await isolate.compileScript(sum + '');
      await script.run(context);
      const fnReference = await context.global.get('sum');
      const min = Math.floor((num / numThreads) * ii);
      const max = Math.floor((num / numThreads) * (ii + 1));
      return await fnReference.apply(undefined, [min, max]);
    });
  const sums = await Promise.all(promises);
  return sums.reduce((a: number, b) => a + (b as number), 0);
}

// Isolate
async function isolates(): Promise<void> {
  const isolate = new Isolate({
    memoryLimit: 32,
    onCatastrophicError: (message: string) => console.error(message),
  });
  expectType<bigint>(isolate.cpuTime);
  expectType<bigint>(isolate.wallTime);
  expectType<boolean>(isolate.isDisposed);
  expectType<number>(isolate.referenceCount);
  const stats: ivm.HeapStatistics = isolate.getHeapStatisticsSync();
  expectType<number>(stats.used_heap_size + stats.externally_allocated_size + stats.number_of_native_contexts);
  expectType<Promise<ivm.HeapStatistics>>(isolate.getHeapStatistics());
  expectType<Promise<ivm.ThreadCpuProfile[]>>(isolate.stopCpuProfiler('title'));
  const script: ivm.Script = isolate.compileScriptSync('1 + 1', { filename: 'file:///a.js', lineOffset: 1, columnOffset: 2 });
  expectType<Promise<ivm.Script>>(isolate.compileScript('1', { produceCachedData: true }));
  expectType<Promise<ivm.Module>>(isolate.compileModule('export default 1', { meta: () => {} }));
  expectType<ivm.Module>(isolate.compileModuleSync('export default 1'));
  expectType<Context>(isolate.createContextSync({ inspector: false }));
  expectType<Promise<Context>>(isolate.createContext());
  // Code caches (CachedDataOptions) and node:vm's codeGeneration.
  const cached = isolate.compileScriptSync('1', { produceCachedData: true });
  const cache: ExternalCopy<ArrayBuffer> | undefined = cached.cachedData;
  const reused = isolate.compileScriptSync('1', { cachedData: cache, produceCachedData: true });
  expectType<boolean | undefined>(reused.cachedDataRejected);
  const cachedModule = isolate.compileModuleSync('export default 1', { cachedData: cache });
  expectType<boolean | undefined>(cachedModule.cachedDataRejected);
  expectType<ExternalCopy<ArrayBuffer> | undefined>(cachedModule.cachedData);
  expectType<number>(isolate.createContextSync({ codeGeneration: { strings: false, wasm: false } }).evalSync('1', { cachedData: cache }));
  expectType<Promise<Context>>(isolate.createContext({ codeGeneration: { wasm: false } }));
  // @ts-expect-error cachedData is an ExternalCopy, not bytes
  isolate.compileScriptSync('1', { cachedData: new ArrayBuffer(1) });
  // @ts-expect-error codeGeneration's switches are booleans
  isolate.createContextSync({ codeGeneration: { strings: 'no' } });
  const snapshot: ExternalCopy<ArrayBuffer> = ivm.Isolate.createSnapshot([{ code: 'var a = 1', filename: 'x.js' }], 'a');
  new ivm.Isolate({ snapshot, inspector: false });
  expectType<ExternalCopy<ArrayBuffer>>(ivm.Isolate.createSnapshot([], undefined, { memoryLimit: 32, timeout: 500 }));
  // @ts-expect-error a snapshot is an ExternalCopy, not bytes
  new ivm.Isolate({ snapshot: new ArrayBuffer(8) });
  // @ts-expect-error each script has its code
  ivm.Isolate.createSnapshot([{ filename: 'x.js' }]);
  const pool = new ivm.IsolatePool({ size: 2, snapshot, memoryLimit: 32 });
  expectType<number>(pool.size + pool.ready);
  const checkout: ivm.PooledIsolate = pool.checkoutSync();
  expectType<Isolate>(checkout.isolate);
  expectType<number>(checkout.context.evalSync('1'));
  expectType<Promise<ivm.PooledIsolate>>(pool.checkout());
  expectType<boolean>(checkout.isReleased);
  checkout.release();
  // @ts-expect-error a pool needs its size
  new ivm.IsolatePool({ memoryLimit: 32 });
  // @ts-expect-error size is read-only
  pool.size = 3;
  script.release();
  isolate.dispose();
  // @ts-expect-error cpuTime is read-only
  isolate.cpuTime = 0n;
  // @ts-expect-error memoryLimit is a number of MB
  new ivm.Isolate({ memoryLimit: '128' });
  isolate.startCpuProfiler('x');
  // @ts-expect-error the profiler is stopped asynchronously only
  isolate.stopCpuProfilerSync('x');
}

// The inspector: isolated-vm's inspector-example.js (its WebSocket, from the
// `ws` package, declared here), and ivm's own server.
function inspector(ws: { on(event: 'message', listener: (m: unknown) => void): void; send(m: string): void }): void {
  const isolate = new ivm.Isolate({ inspector: true });
  const context: Context = isolate.createContextSync({ inspector: true, name: 'main' });
  expectType<Promise<Context>>(isolate.createContext({ inspector: true }));
  const channel: ivm.InspectorSession = isolate.createInspectorSession();
  ws.on('message', (m) => channel.dispatchProtocolMessage(String(m)));
  channel.onResponse = (callId, message) => ws.send(message + expectType<number>(callId));
  channel.onNotification = (message) => ws.send(message);
  channel.dispose();
  const server: ivm.InspectorServer = isolate.startInspectorServer();
  expectType<number>(isolate.startInspectorServer(9229).port);
  expectType<string>(server.webSocketUrl + server.devtoolsUrl);
  server.close();
  expectType<string>(new ivm.IoError('x').code);
  context.release();
  // @ts-expect-error a protocol message is a string
  channel.dispatchProtocolMessage({ id: 1, method: 'Runtime.enable' });
  // @ts-expect-error a context's name is a string
  isolate.createContextSync({ name: 1 });
  // @ts-expect-error the port is read-only
  server.port = 1;
  // @ts-expect-error sessions are made by createInspectorSession
  new ivm.InspectorSession();
}

// Context and Script, with TransferOptions shaping the result types.
async function contexts(context: Context, isolate: Isolate): Promise<void> {
  expectType<Reference<Record<string | number | symbol, any>>>(context.global);
  const anything = context.evalSync('1 + 1', { timeout: 100, filename: 'x.js' });
  expectType<number>(anything);
  expectType<Promise<any>>(context.eval('1'));
  expectType<Promise<any>>(context.eval('Promise.resolve(1)', { promise: true }));
  context.evalIgnored('globalThis.x = 1');
  expectType<Promise<any>>(context.evalSync('Promise.resolve(1)', { promise: true }));
  expectType<ExternalCopy<any>>(context.evalSync('({})', { externalCopy: true }));
  expectType<Reference<any>>(context.evalSync('({})', { reference: true }));
  expectType<Promise<Reference<any>>>(context.eval('({})', { reference: true }));
  expectType<Promise<any>>(context.evalClosure('return $0 + $1', [1, 2], { timeout: 5 }));
  context.evalClosureIgnored('globalThis.y = $0', [{ a: 1 }], { arguments: { copy: true } });
  expectType<Reference<any>>(context.evalClosureSync('return {}', [], { result: { reference: true } }));
  expectType<Promise<any>>(context.evalClosureSync('return (async () => 1)()', [], { result: { promise: true } }));
  const script = await isolate.compileScript('globalThis.z = 3; z');
  expectType<Promise<any>>(script.run(context, { timeout: 10, release: false }));
  expectType<Reference<any>>(script.runSync(context, { reference: true }));
  script.runIgnored(context);
  context.release();
  // @ts-expect-error only one of copy, externalCopy and reference
  context.evalSync('1', { copy: true, reference: true });
  // @ts-expect-error code is a string
  context.evalSync(() => 1);
  // @ts-expect-error Context has no public constructor
  new ivm.Context();
  // @ts-expect-error run needs a context
  script.runSync();
}

// Reference, typed by what it refers to.
async function references(context: Context): Promise<void> {
  const local = new ivm.Reference({ a: 1, f: (x: number) => x * 2 }, { unsafeInherit: false });
  expectType<string>(local.typeof);
  expectType<{ a: number; f: (x: number) => number }>(local.deref({ release: false }));
  expectType<number>((await local.copy()).a);
  expectType<number>(local.copySync().a);
  expectType<ivm.Dereference<{ a: number; f: (x: number) => number }>>(local.derefInto());
  expectType<number>(local.getSync('a'));
  expectType<Promise<number>>(local.get('a'));
  expectType<Reference<number>>(local.getSync('a', { reference: true }));
  expectType<Reference<number>>(local.getSync('a', { reference: true, accessors: true }));
  expectType<Promise<number>>(local.get('a', { accessors: false, copy: true }));
  local.setSync('a', 2);
  expectType<Promise<void>>(local.set('a', 3, { copy: true }));
  local.setIgnored('a', 4);
  local.deleteSync('a');
  expectType<Promise<void>>(local.delete('a'));
  local.deleteIgnored('a');
  local.release();

  const fn = new ivm.Reference((x: number, y: string) => `${x}${y}`);
  expectType<string>(fn.applySync(undefined, [1, 'a']));
  expectType<Promise<string>>(fn.apply(null, [1, 'b'], { timeout: 10 }));
  fn.applyIgnored(undefined, [2, 'c']);
  expectType<string>(fn.applySyncPromise(undefined, [3, 'd']));
  expectType<ExternalCopy<string>>(fn.applySync(undefined, [1, 'a'], { result: { externalCopy: true } }));
  expectType<Promise<string>>(fn.applySync(undefined, [1, 'a'], { result: { promise: true, copy: true } }));

  const global = context.global;
  global.setSync('global', global.derefInto());
  global.setSync('data', { deep: [1, 2] }, { copy: true });
  global.setSync('copied', new ivm.ExternalCopy({ deep: true }).copyInto({ release: true }));
  global.setSync('host', new ivm.Callback((a: number) => a + 1, { async: true }));
  const inner = global.getSync('globalThis');
  expectType<Promise<Reference<any>>>(global.get('globalThis', { reference: true }));
  expectType<any>(inner);

  // @ts-expect-error `b` is not a key of the referenced object
  new ivm.Reference({ a: 1 }).getSync('b');
  // @ts-expect-error wrong argument type for the referenced function
  fn.applySync(undefined, ['not a number', 'a']);
  // @ts-expect-error ivm takes strings and numbers as keys, not symbols
  global.getSync(Symbol.iterator);
  const slots = global as Reference<{ slot: unknown }>;
  slots.setSync('slot', new ivm.ExternalCopy(1).copyInto());
  slots.setSync('slot', 10n);
  // @ts-expect-error an Isolate is not transferable into an isolate in ivm
  slots.setSync('slot', new ivm.Isolate());
  // @ts-expect-error nor is a plain object without a transfer option
  slots.setSync('slot', { a: 1 });
}

// ExternalCopy and Callback
// ES modules, as isolated-vm's README uses them.
async function modules(context: Context, isolate: Isolate): Promise<void> {
  const main = await isolate.compileModule("import x from './x.js'; export default x;", { filename: 'file:///main.js' });
  const dependency: ivm.Module = isolate.compileModuleSync('export default 1', { lineOffset: 0, columnOffset: 0 });
  expectType<string[]>(main.dependencySpecifiers);
  expectType<Promise<void>>(main.instantiate(context, async (specifier: string, referrer: ivm.Module) => dependency));
  expectType<Promise<void>>(main.instantiate(context, () => dependency));
  expectType<void>(main.instantiateSync(context, (specifier, referrer) => (referrer === main ? dependency : main)));
  expectType<Promise<ivm.Transferable>>(main.evaluate({ timeout: 100 }));
  expectType<ivm.Transferable>(main.evaluateSync());
  const namespace: Reference = main.namespace;
  expectType<Promise<any>>(namespace.get('default'));
  main.release();
  // @ts-expect-error instantiateSync's resolver answers at once
  main.instantiateSync(context, async () => dependency);
  // @ts-expect-error dependencySpecifiers is read-only
  main.dependencySpecifiers = [];
}

function copies(): void {
  const buffer = new ArrayBuffer(8);
  const copy = new ivm.ExternalCopy(buffer, { transferOut: true });
  expectType<ArrayBuffer>(copy.copy({ transferIn: true }));
  expectType<ivm.Copy<ArrayBuffer>>(copy.copyInto({ release: true }));
  new ivm.ExternalCopy({ list: [new ArrayBuffer(4)] }, { transferList: [] });
  expectType<number>(ivm.ExternalCopy.totalExternalSize);
  copy.release();

  new ivm.Callback(() => 1);
  new ivm.Callback(async () => 1, { async: true });
  new ivm.Callback(() => {}, { ignored: true });
  new ivm.Callback(() => 2, { sync: true });
  // @ts-expect-error one invocation option at most
  new ivm.Callback(() => 1, { async: true, ignored: true });
  // @ts-expect-error totalExternalSize is read-only
  ivm.ExternalCopy.totalExternalSize = 1;
  // @ts-expect-error Copy (like Dereference) is a type only, made by ivm alone
  new ivm.Copy();
  // @ts-expect-error nor can one be forged by its shape
  expectType<ivm.Copy<number>>({});
}

// Errors
async function errors(context: Context): Promise<void> {
  try {
    await context.eval('while (true) {}', { timeout: 20 });
  } catch (error) {
    if (error instanceof ivm.TimeoutError) {
      expectType<'ERR_IVM_TIMEOUT'>(error.code);
      expectType<ivm.IvmError>(error);
      expectType<Error>(error);
      expectType<string>(error.message);
    } else if (error instanceof ivm.IvmError) {
      expectType<string>(error.code);
    }
  }
  const classes: Array<typeof ivm.IvmError> = [
    ivm.IvmError,
    ivm.TimeoutError,
    ivm.CpuLimitError,
    ivm.MemoryLimitError,
    ivm.DisposedError,
    ivm.ReleasedError,
    ivm.UsageError,
    ivm.TransferError,
    ivm.CanceledError,
    ivm.UnsupportedError,
  ];
  expectType<ivm.UnsupportedError>(new ivm.UnsupportedError('x'));
  expectType<number>(classes.length);
  // @ts-expect-error codes are literal per class
  expectType<'ERR_IVM_TIMEOUT'>(new ivm.MemoryLimitError().code);
  // @ts-expect-error Module has no public constructor
  new ivm.Module();
}

// Option types are exported under isolated-vm's names.
const optionTypes: [
  ivm.IsolateOptions,
  ivm.ContextOptions,
  ivm.TransferOptions,
  ivm.TransferOptionsBidirectional,
  ivm.CachedDataOptions,
  ivm.CachedDataResult,
  ivm.ScriptOrigin,
  ivm.ScriptInfo,
  ivm.RunOptions,
  ivm.ReleaseOptions,
  ivm.ScriptRunOptions,
  ivm.ContextEvalOptions,
  ivm.ContextEvalClosureOptions,
  ivm.ReferenceApplyOptions,
  ivm.ReferenceGetOptions,
  ivm.ExternalCopyOptions,
  ivm.ExternalCopyCopyOptions,
  ivm.CallbackOptions,
  ivm.CompileModuleOptions,
  ivm.SnapshotScriptInfo,
  ivm.SnapshotOptions,
  ivm.Transferable,
] = [{}, {}, { copy: true }, { result: { promise: true } }, {}, {}, { filename: 'a' }, {}, { timeout: 1 }, {}, {}, {}, {}, {}, { accessors: true }, {}, {}, {}, {}, { code: '' }, { timeout: 1 }, 1n];

export { logSandbox, parallelSum, isolates, contexts, references, modules, copies, errors, optionTypes };

// node:vm's API over ivm (`ivm.vm`, `require('ivm/vm')`).
{
  const sandbox = ivm.vm.createContext({ count: 1 }, { memoryLimit: 32 });
  expectType<{ count: number }>(sandbox);
  expectType<boolean>(ivm.vm.isContext(sandbox));
  const script = new ivm.vm.Script('count += 1', { filename: 'count.js' });
  script.runInContext(sandbox, { timeout: 100 });
  ivm.vm.runInNewContext('x + 1', { x: 1 }, 'file.vm', 50);
  // @ts-expect-error: the code is a string
  ivm.vm.runInThisContext(42);
}

// node:vm's modules over ivm.
async function vmModules(): Promise<void> {
  const context = ivm.vm.createContext({ secret: 42 });
  const main = new ivm.vm.SourceTextModule("import s from 'foo'; export default s;", { context });
  await main.link(async (specifier, referencing) => new ivm.vm.SourceTextModule('export default secret;', { context: referencing.context }));
  await main.evaluate({ timeout: 100 });
  expectType<Record<string, any>>(main.namespace);
  const old = new ivm.vm.Module('1', { context, url: 'old.mjs' });
  expectType<string>(old.url);
}
void vmModules;
