'use strict';
// Drop-in behaviour: errors, limits, ExternalCopy, lifecycle and the CPU
// profiler as isolated-vm 7.0.1 does them. Every assertion here was checked
// against isolated-vm itself (IVM_PEER=<its package dir>), so a failure
// against ivm is a difference from isolated-vm.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ivm, isPeer, itWithGaps } = require('./support/implementation');

// Tests of behaviours ivm does not have yet (see itWithGaps).
const GAPS = new Set([]);
const it = itWithGaps(GAPS);

// isolated-vm's message for a thrown object that does not look like an Error.
const NON_ERROR =
  'An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`.';

// isolated-vm raises its own failures (and the errors it makes up for values
// it cannot carry over) as plain `Error`s; ivm may raise Error subclasses of
// its own (with a `code`), so the exact class is pinned on the peer only.
function assertPlainError(error, label) {
  assert.ok(error instanceof Error, label);
  if (isPeer) assert.equal(error.constructor, Error, label);
}

// Runs `fn(context, isolate)` with a fresh isolate, disposing it afterwards
// (unless the test disposed it already).
async function withContext(fn, options = { memoryLimit: 32 }) {
  const isolate = new ivm.Isolate(options);
  try {
    return await fn(isolate.createContextSync(), isolate);
  } finally {
    if (!isolate.isDisposed) isolate.dispose();
  }
}

// The value `fn` throws (fails the test when it returns instead).
function thrown(fn, label = String(fn)) {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail(`expected a throw from ${label}`);
}

// The reason `promise` rejects with (fails the test when it resolves).
async function rejection(promise) {
  let value;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  assert.fail(`expected a rejection, got ${String(value)}`);
}

// A host function that keeps the thread busy for `ms` milliseconds.
function block(ms) {
  const start = Date.now();
  while (Date.now() - start < ms);
  return 'done';
}

const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('6. errors as isolated-vm reports them', () => {
  // An unhandled rejection fails the call with its reason; the code after it still ran.
  it('an unhandled rejection during evalSync fails the call with the rejection reason', () =>
    withContext((context) => {
      const error = thrown(() =>
        context.evalSync('globalThis.y = 0; Promise.reject(new Error("x")); globalThis.y = 5; 1'),
      );
      assert.ok(error instanceof Error);
      assert.equal(error.constructor, Error);
      assert.equal(error.message, 'x');
      assert.equal(context.evalSync('y'), 5);
      assert.equal(context.evalSync('3'), 3, 'the next call is unaffected');
    }));

  // A rejection handled before the call ends does not fail it.
  it('a rejection handled within the same call does not fail it', () =>
    withContext((context) => {
      assert.equal(context.evalSync('const p = Promise.reject(new Error("y")); p.catch(() => {}); 2'), 2);
    }));

  // Rejections from async functions and later microtasks of the call count too, with their class.
  it('rejections from async functions and later microtasks fail the call with their class', () =>
    withContext((context) => {
      const fromAsync = thrown(() => context.evalSync('(async () => { throw new RangeError("af") })(); 1'));
      assert.ok(fromAsync instanceof RangeError);
      assert.equal(fromAsync.message, 'af');
      const later = thrown(() => context.evalSync('Promise.resolve().then(() => { throw new TypeError("later") }); 4'));
      assert.ok(later instanceof TypeError);
      assert.equal(later.message, 'later');
    }));

  // Async eval, eval with {promise: true} and Reference#applySync fail the same way.
  it('an unhandled rejection fails async evals and Reference calls too', () =>
    withContext(async (context) => {
      const asyncError = await rejection(context.eval('Promise.reject(new Error("as")); 1'));
      assert.equal(asyncError.message, 'as');
      const promiseError = await rejection(
        context.eval('Promise.reject(new Error("pt2")); Promise.resolve(7)', { promise: true }),
      );
      assert.equal(promiseError.message, 'pt2');
      const fn = context.evalSync('(function () { Promise.reject(new Error("ref")); return 1 })', { reference: true });
      const refError = thrown(() => fn.applySync());
      assert.ok(refError instanceof Error);
      assert.equal(refError.message, 'ref');
    }));

  // A primitive rejection reason is thrown to the host as that primitive.
  it('a primitive rejection reason is thrown as the primitive', () =>
    withContext((context) => {
      assert.equal(thrown(() => context.evalSync('Promise.reject(1); 1')), 1);
    }));

  // Thrown objects that do not look like Errors become an Error with isolated-vm's fixed message.
  it("throwing a non-Error object gives isolated-vm's message as an Error", () =>
    withContext((context) => {
      const codes = ['throw {}', 'throw [1, 2]', 'throw function f() {}', 'throw Symbol("s")', 'Promise.reject({}); 1'];
      for (const code of codes) {
        const error = thrown(() => context.evalSync(code));
        assert.ok(error instanceof Error, code);
        assertPlainError(error, code);
        assert.equal(error.message, NON_ERROR, code);
      }
    }));

  // Thrown primitives cross the boundary unchanged (they are not wrapped).
  it('throwing a primitive passes the primitive through unchanged', () =>
    withContext((context) => {
      assert.equal(thrown(() => context.evalSync('throw 1')), 1);
      assert.equal(thrown(() => context.evalSync('throw "s"')), 's');
      assert.equal(thrown(() => context.evalSync('throw null')), null);
      assert.equal(thrown(() => context.evalSync('throw true')), true);
      assert.equal(thrown(() => context.evalSync('throw 10n')), 10n);
      let caught = false;
      try {
        context.evalSync('throw undefined');
      } catch (error) {
        caught = true;
        assert.equal(error, undefined);
      }
      assert.ok(caught);
    }));

  // An object with a `message` (or `stack`) is taken for an error: Error with that message and name.
  it('a thrown object with a message arrives as an Error with that message and name', () =>
    withContext((context) => {
      const plain = thrown(() => context.evalSync('throw { message: "hi" }'));
      assertPlainError(plain);
      assert.equal(plain.message, 'hi');
      assert.equal(plain.name, 'Error');
      const named = thrown(() => context.evalSync('throw { message: "hi", name: "Named" }'));
      assertPlainError(named);
      assert.equal(named.message, 'hi');
      assert.equal(named.name, 'Named');
    }));

  // Error, RangeError, ReferenceError, SyntaxError and TypeError keep their class; others become Error named as thrown.
  it('the five built-in error classes are kept; other errors arrive as Error carrying their name', () =>
    withContext((context) => {
      for (const name of ['Error', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError']) {
        const error = thrown(() => context.evalSync(`throw new ${name}("m")`));
        assert.equal(error.constructor, globalThis[name], name);
        assert.equal(error.message, 'm', name);
      }
      for (const [code, name] of [
        ['throw new EvalError("m")', 'EvalError'],
        ['throw new URIError("m")', 'URIError'],
        ['throw new AggregateError([], "m")', 'AggregateError'],
        ['throw new (class Bar extends RangeError {})("m")', 'RangeError'],
        ['throw new (class Foo extends Error { get name() { return "Foo" } })("m")', 'Foo'],
      ]) {
        const error = thrown(() => context.evalSync(code));
        assertPlainError(error, code);
        assert.equal(error.name, name, code);
        assert.equal(error.message, 'm', code);
        assert.ok(String(error.stack).startsWith(`${name}: m`), code);
      }
      const reference = thrown(() => context.evalSync('undefinedVariable'));
      assert.equal(reference.constructor, ReferenceError);
      assert.equal(reference.message, 'undefinedVariable is not defined');
    }));

  // The stack of an error thrown to the host: isolate frames, the boundary marker, then the host caller's frames.
  it("an error's stack continues into the host caller's frames", () =>
    withContext((context) => {
      function myHostCaller() {
        return context.evalSync('throw new RangeError("r")', { filename: 'inner.js' });
      }
      const error = thrown(() => myHostCaller());
      assert.ok(error instanceof RangeError);
      const lines = error.stack.split('\n');
      assert.equal(lines[0], 'RangeError: r');
      assert.equal(lines[1], '    at inner.js:1:7');
      assert.equal(lines[2], '    at (<isolated-vm boundary>)');
      assert.ok(lines[3].startsWith('    at myHostCaller ('), lines[3]);
      assert.ok(lines[3].includes(__filename), lines[3]);
    }));

  // An async eval's error stack also continues into the awaiting host function.
  it("an async eval's error stack continues into the awaiting host function", () =>
    withContext(async (context) => {
      async function myAsyncCaller() {
        return await context.eval('throw new RangeError("r")', { filename: 'inner.js' });
      }
      const error = await rejection(myAsyncCaller());
      assert.ok(error instanceof RangeError);
      assert.match(error.stack, /at inner\.js:1:7\n {4}at \(<isolated-vm boundary>\)\n {4}at myAsyncCaller \(/);
      assert.ok(error.stack.includes(__filename));
    }));

  // A host TypeError thrown through the isolate arrives as the same TypeError, with every frame on the way.
  it('a TypeError from a host function called via applySync keeps its class and message through the isolate', () =>
    withContext((context) => {
      function hostThrower() {
        throw new TypeError('here');
      }
      context.global.setSync('hostThrow', new ivm.Reference(hostThrower));
      // Inside the isolate it is the isolate's own TypeError.
      assert.equal(
        context.evalSync(
          'try { hostThrow.applySync(undefined, []) } ' +
            'catch (e) { [e instanceof TypeError, e.name, e.message].join("|") }',
        ),
        'true|TypeError|here',
      );
      function outerHost() {
        return context.evalSync('function isoMiddle() { return hostThrow.applySync(undefined, []) }\nisoMiddle()', {
          filename: 'mid.js',
        });
      }
      const error = thrown(() => outerHost());
      assert.equal(error.constructor, TypeError);
      assert.equal(error.message, 'here');
      assert.ok(error.stack.startsWith('TypeError: here\n    at hostThrower ('), error.stack);
      assert.ok(error.stack.includes('at isoMiddle (mid.js:1:41)'), error.stack);
      assert.ok(error.stack.includes('at outerHost ('), error.stack);
    }));

  // The same through a Callback.
  it('a TypeError from a host Callback keeps its class and message through the isolate', () =>
    withContext((context) => {
      context.global.setSync(
        'hostThrowCb',
        new ivm.Callback(() => {
          throw new TypeError('cb here');
        }),
      );
      assert.equal(
        context.evalSync('try { hostThrowCb() } catch (e) { [e instanceof TypeError, e.message].join("|") }'),
        'true|cb here',
      );
      const error = thrown(() => context.evalSync('hostThrowCb()'));
      assert.equal(error.constructor, TypeError);
      assert.equal(error.message, 'cb here');
    }));

  // A non-Error thrown by a host function gets isolated-vm's message on the way back.
  it('a non-Error object thrown by a host function arrives as the non-Error message', () =>
    withContext((context) => {
      context.global.setSync(
        'hostThrowObj',
        new ivm.Reference(() => {
          throw { a: 1 };
        }),
      );
      const error = thrown(() => context.evalSync('hostThrowObj.applySync(undefined, [])'));
      assertPlainError(error);
      assert.equal(error.message, NON_ERROR);
    }));

  // With ivm passed into an isolate, an error from a grandchild isolate keeps its class through both boundaries.
  it('an error thrown in a nested isolate keeps its class and message through both boundaries', () =>
    withContext((context) => {
      context.global.setSync('ivm', ivm);
      assert.equal(
        context.evalSync(`
          const child = new ivm.Isolate({ memoryLimit: 16 });
          let result;
          try { child.createContextSync().evalSync('throw new RangeError("deep")') }
          catch (e) { result = [e.constructor.name, e instanceof RangeError, e.message].join('|') }
          finally { child.dispose() }
          result`),
        'RangeError|true|deep',
      );
      const error = thrown(() =>
        context.evalSync(`
          const child2 = new ivm.Isolate({ memoryLimit: 16 });
          try { child2.createContextSync().evalSync('throw new RangeError("deep2")') }
          finally { child2.dispose() }`),
      );
      assert.equal(error.constructor, RangeError);
      assert.equal(error.message, 'deep2');
    }));

  // Compile-time SyntaxErrors end with [file:line:col] (offsets applied); runtime eval's do not.
  it('SyntaxError messages carry [file:line:col]', () =>
    withContext(async (context, isolate) => {
      const cases = [
        [() => isolate.compileScriptSync('1 +', { filename: 'f.js' }), 'Unexpected end of input [f.js:1:4]'],
        [() => isolate.compileScriptSync('1 +'), 'Unexpected end of input [<isolated-vm>:1:4]'],
        [() => context.evalSync('\n  let x = ;', { filename: 'g.js' }), "Unexpected token ';' [g.js:2:11]"],
        [
          () => isolate.compileScriptSync('\n\n  }', { filename: 'b.js', lineOffset: 10, columnOffset: 5 }),
          "Unexpected token '}' [b.js:13:3]",
        ],
        [
          () => isolate.compileScriptSync('}', { filename: 'c.js', lineOffset: 10, columnOffset: 5 }),
          "Unexpected token '}' [c.js:11:6]",
        ],
        [() => isolate.compileModuleSync('export let = 1', { filename: 'm.mjs' }), "Unexpected token '=' [m.mjs:1:12]"],
        [() => context.evalClosureSync('1 +'), 'Unexpected end of input [<isolated-vm>:1:4]'],
        [() => context.evalSync('eval("1 +")'), 'Unexpected end of input'],
      ];
      for (const [fn, message] of cases) {
        const error = thrown(fn);
        assert.equal(error.constructor, SyntaxError, message);
        assert.equal(error.message, message);
      }
      const asyncError = await rejection(isolate.compileScript('let let = 1', { filename: 'a.js' }));
      assert.equal(asyncError.constructor, SyntaxError);
      assert.equal(asyncError.message, 'let is disallowed as a lexically bound name [a.js:1:5]');
    }));

  // A timeout error has isolated-vm's message and a stack naming the runaway function.
  it("a timeout error's stack shows the runaway function", { timeout: 20000 }, () =>
    withContext(async (context) => {
      const error = await rejection(
        context.eval('function spin() { for (;;) {} }\nspin()', { timeout: 50, filename: 'spin.js' }),
      );
      assertPlainError(error);
      assert.equal(error.message, 'Script execution timed out.');
      const lines = error.stack.split('\n');
      assert.equal(lines[0], `${error.name}: Script execution timed out.`);
      assert.match(
        error.stack,
        /\n {4}at spin \(spin\.js:1:\d+\)\n {4}at spin\.js:2:1\n {4}at \(<isolated-vm boundary>\)\n/,
      );
    }));

  // On a disposed isolate: sync calls throw "Isolated is disposed" (sic), async calls reject "Isolate is disposed".
  it('a disposed isolate gives isolated-vm\'s exact messages', () =>
    withContext(async (context, isolate) => {
      const script = isolate.compileScriptSync('1');
      const ref = context.evalSync('({ a: 1 })', { reference: true });
      const fn = context.evalSync('(() => 1)', { reference: true });
      isolate.dispose();
      assert.equal(isolate.isDisposed, true);
      const sync = [
        () => context.evalSync('1'),
        () => isolate.createContextSync(),
        () => isolate.compileScriptSync('1'),
        () => isolate.getHeapStatisticsSync(),
        () => script.runSync(context),
        () => ref.getSync('a'),
        () => fn.applySync(),
        () => context.global.setSync('x', 1),
      ];
      for (const call of sync) {
        const error = thrown(call);
        assertPlainError(error, String(call));
        assert.equal(error.message, 'Isolated is disposed', String(call));
      }
      for (const getter of ['cpuTime', 'wallTime', 'referenceCount']) {
        const error = thrown(() => isolate[getter]);
        assert.equal(error.message, 'Isolate is disposed', getter);
      }
      // The profiler methods check synchronously, stopCpuProfiler included.
      assert.equal(thrown(() => isolate.startCpuProfiler('p')).message, 'Isolate is disposed');
      assert.equal(thrown(() => isolate.stopCpuProfiler('p')).message, 'Isolate is disposed');
      // The async forms return promises that reject.
      for (const call of [
        () => isolate.createContext(),
        () => context.eval('1'),
        () => isolate.compileScript('1'),
        () => isolate.getHeapStatistics(),
        () => ref.get('a'),
        () => fn.apply(),
      ]) {
        const error = await rejection(call());
        assertPlainError(error, String(call));
        assert.equal(error.message, 'Isolate is disposed', String(call));
      }
      const again = thrown(() => isolate.dispose());
      assertPlainError(again);
      assert.equal(again.message, 'Isolate is already disposed');
    }));

  // Using a released context throws/rejects "Context is released".
  it('a released context gives "Context is released"', () =>
    withContext(async (context, isolate) => {
      const script = isolate.compileScriptSync('1');
      context.release();
      for (const call of [
        () => context.evalSync('1'),
        () => context.evalClosureSync('1'),
        () => script.runSync(context),
      ]) {
        const error = thrown(call);
        assertPlainError(error, String(call));
        assert.equal(error.message, 'Context is released', String(call));
      }
      for (const call of [() => context.eval('1'), () => context.evalClosure('1'), () => script.run(context)]) {
        const error = await rejection(call());
        assert.equal(error.message, 'Context is released', String(call));
      }
    }));

  // Released Script, Reference and ExternalCopy handles have their own fixed messages.
  it('released handles give isolated-vm\'s messages', () =>
    withContext((context, isolate) => {
      const script = isolate.compileScriptSync('1');
      script.release();
      assert.equal(thrown(() => script.runSync(context)).message, 'Script has been released');
      const ref = context.evalSync('({})', { reference: true });
      ref.release();
      assert.equal(thrown(() => ref.getSync('a')).message, 'Reference has been released');
      assert.equal(thrown(() => ref.typeof).message, 'Reference has been released');
      const copy = new ivm.ExternalCopy({ a: 1 });
      copy.release();
      assert.equal(thrown(() => copy.copy()).message, 'Copy has been released');
    }));

  // Disposing the isolate from a host function it is running fails that call with isolated-vm's message.
  it('self-dispose from inside the isolate fails the call with "Isolate was disposed during execution"', async () => {
    for (const [Kind, call] of [
      [ivm.Reference, 'selfDispose.applySync()'],
      [ivm.Callback, 'selfDispose()'],
    ]) {
      await withContext((context, isolate) => {
        context.global.setSync('selfDispose', new Kind(() => isolate.dispose()));
        // Not catchable inside the isolate: the host gets the error.
        const error = thrown(() => context.evalSync(`try { ${call} } catch (e) { "caught " + e.message }`));
        assertPlainError(error, call);
        assert.equal(error.message, 'Isolate was disposed during execution', call);
        assert.equal(isolate.isDisposed, true);
      });
    }
    await withContext(async (context, isolate) => {
      context.global.setSync('selfDispose', new ivm.Reference(() => isolate.dispose()));
      const error = await rejection(context.eval('selfDispose.applySync()'));
      assert.equal(error.message, 'Isolate was disposed during execution');
    });
  });
});

describe('7. limits', () => {
  // isolated-vm's timeout clock is paused while the isolate waits on a host function:
  // a call blocked in the host past its timeout is not failed for it.
  it('time spent in a host function does not count towards the timeout', { timeout: 20000 }, () =>
    withContext(async (context) => {
      context.global.setSync('blockCb', new ivm.Callback(block));
      context.global.setSync('blockRef', new ivm.Reference(block));
      assert.equal(context.evalSync('blockCb(400)', { timeout: 100 }), 'done');
      assert.equal(
        context.evalSync('blockRef.applySync(undefined, [400]); let n = 0; for (let i = 0; i < 1000; i++) n += i; n', {
          timeout: 100,
        }),
        499500,
      );
      assert.equal(
        await context.eval('blockCb(400); let m = 0; for (let i = 0; i < 1000; i++) m += i; m', { timeout: 100 }),
        499500,
      );
    }));

  // A timeout that expires while V8 cannot be interrupted (one long JSON.parse) does not fail
  // a call that then finishes: isolated-vm only terminates at V8's next interrupt check.
  it('a call that finishes before the timeout can interrupt it returns its value', { timeout: 20000 }, () =>
    withContext(
      (context, isolate) => {
        context.evalSync('globalThis.big = JSON.stringify(Array.from({ length: 5e5 }, (_, i) => ({ i })))');
        // The parse alone takes far longer than the timeout; the script is compiled beforehand.
        const script = isolate.compileScriptSync('JSON.parse(big).length');
        assert.equal(script.runSync(context, { timeout: 50 }), 5e5);
      },
      { memoryLimit: 256 },
    ));

  // The timeout still fires in JS that runs away after a host call, and the isolate stays usable.
  it('a timeout fires in runaway code after a host call', { timeout: 20000 }, () =>
    withContext(async (context) => {
      context.global.setSync('blockCb', new ivm.Callback(block));
      const error = await rejection(context.eval('blockCb(50); for (;;) {}', { timeout: 100 }));
      assertPlainError(error);
      assert.equal(error.message, 'Script execution timed out.');
      assert.equal(context.evalSync('1 + 1'), 2);
    }));

  // cpuTime and wallTime are bigint nanoseconds, and a host Callback called mid-run sees them advance.
  it('cpuTime and wallTime advance while a call runs, as seen from a host Callback', () =>
    withContext((context, isolate) => {
      assert.equal(typeof isolate.cpuTime, 'bigint');
      assert.equal(typeof isolate.wallTime, 'bigint');
      const probes = [];
      context.global.setSync(
        'probe',
        new ivm.Callback(() => {
          probes.push([isolate.cpuTime, isolate.wallTime]);
        }),
      );
      const before = [isolate.cpuTime, isolate.wallTime];
      context.evalSync(`
        function spin(ms) { const t = Date.now(); while (Date.now() - t < ms); }
        spin(30); probe(); spin(30); probe();`);
      const after = [isolate.cpuTime, isolate.wallTime];
      assert.equal(probes.length, 2);
      for (const i of [0, 1]) {
        assert.ok(probes[0][i] > before[i], `first probe moved (${i})`);
        assert.ok(probes[1][i] > probes[0][i], `second probe moved (${i})`);
        assert.ok(after[i] >= probes[1][i], `after the call (${i})`);
      }
      assert.ok(probes[1][1] - probes[0][1] >= 25_000_000n, 'wallTime counts the 30ms spin');
    }));

  // A host watchdog polling during an async call sees both clocks move before the call ends.
  it('a host watchdog sees cpuTime and wallTime move during an async call', { timeout: 20000 }, () =>
    withContext(async (context, isolate) => {
      const cpu0 = isolate.cpuTime;
      const wall0 = isolate.wallTime;
      let finished = false;
      const call = context
        .eval('const t = Date.now(); while (Date.now() - t < 600);')
        .finally(() => {
          finished = true;
        });
      const seen = { cpu: [], wall: [] };
      while (!finished && (seen.cpu.length < 2 || seen.wall.length < 2)) {
        const cpu = isolate.cpuTime;
        const wall = isolate.wallTime;
        if (cpu > (seen.cpu.at(-1) ?? cpu0)) seen.cpu.push(cpu);
        if (wall > (seen.wall.at(-1) ?? wall0)) seen.wall.push(wall);
        await tick(5);
      }
      const movedWhileRunning = !finished;
      await call;
      assert.ok(seen.cpu.length >= 2, 'cpuTime was seen moving twice during the call');
      assert.ok(seen.wall.length >= 2, 'wallTime was seen moving twice during the call');
      assert.ok(movedWhileRunning, 'the clocks moved before the call finished');
    }));

  // A re-entrant run (host Callback calling back into the same isolate) is counted in both clocks.
  it('cpuTime and wallTime count nested re-entrant runs', () =>
    withContext((context, isolate) => {
      let inner;
      context.global.setSync(
        'reenter',
        new ivm.Callback(() => {
          const a = [isolate.cpuTime, isolate.wallTime];
          context.evalSync('const t = Date.now(); while (Date.now() - t < 50); 0');
          const b = [isolate.cpuTime, isolate.wallTime];
          inner = [b[0] - a[0], b[1] - a[1]];
        }),
      );
      const before = [isolate.cpuTime, isolate.wallTime];
      context.evalSync('reenter()');
      const outer = [isolate.cpuTime - before[0], isolate.wallTime - before[1]];
      assert.ok(inner[0] > 0n, 'cpuTime moved in the nested run');
      assert.ok(inner[1] >= 45_000_000n, 'wallTime counts the nested 50ms spin');
      assert.ok(outer[0] >= inner[0], 'the outer call includes the nested cpu time');
      assert.ok(outer[1] >= inner[1], 'the outer call includes the nested wall time');
    }));
});

describe('8. ExternalCopy', () => {
  // After copy({transferIn: true}) of an ArrayBuffer copy, further copies throw "Array buffer is invalid".
  it('a transferred-in ArrayBuffer copy cannot be copied again', () => {
    const copy = new ivm.ExternalCopy(new Uint8Array([1, 2, 3]).buffer);
    const buffer = copy.copy({ transferIn: true });
    assert.ok(buffer instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(buffer)], [1, 2, 3]);
    for (const again of [() => copy.copy(), () => copy.copy({ transferIn: true })]) {
      const error = thrown(again);
      assertPlainError(error);
      assert.equal(error.message, 'Array buffer is invalid');
    }
    copy.release();
    // The same for a typed array.
    const typed = new ivm.ExternalCopy(new Uint8Array([7, 8]));
    assert.ok(typed.copy({ transferIn: true }) instanceof Uint8Array);
    assert.equal(thrown(() => typed.copy()).message, 'Array buffer is invalid');
    typed.release();
  });

  // The same when the transfer happens inside an isolate, and through copyInto({transferIn: true}).
  it('transferring in inside an isolate or via copyInto also consumes the copy', () =>
    withContext((context) => {
      const copy = new ivm.ExternalCopy(new Uint8Array([4, 5, 6]).buffer);
      context.global.setSync('ec', copy);
      assert.equal(
        context.evalSync('const a = ec.copy({ transferIn: true }); [a.constructor.name, a.byteLength].join()'),
        'ArrayBuffer,3',
      );
      assert.equal(
        context.evalSync('try { ec.copy(); "no" } catch (e) { [e instanceof Error, e.message].join("|") }'),
        'true|Array buffer is invalid',
      );
      assert.equal(thrown(() => copy.copy()).message, 'Array buffer is invalid');
      const into = new ivm.ExternalCopy(new Uint8Array([7]).buffer);
      context.global.setSync('x1', into.copyInto({ transferIn: true }));
      assert.equal(context.evalSync('x1.byteLength'), 1);
      assert.equal(thrown(() => into.copy()).message, 'Array buffer is invalid');
      copy.release();
      into.release();
    }));

  // A copy of a plain object (even one holding an ArrayBuffer) or a string stays usable after copy({transferIn: true}).
  it('a plain object copy stays usable after copy({transferIn: true})', () =>
    withContext((context) => {
      const copy = new ivm.ExternalCopy({ a: 1, b: [2] });
      assert.deepEqual(copy.copy({ transferIn: true }), { a: 1, b: [2] });
      assert.deepEqual(copy.copy(), { a: 1, b: [2] });
      assert.deepEqual(copy.copy({ transferIn: true }), { a: 1, b: [2] });
      context.global.setSync('eo', copy);
      assert.equal(
        context.evalSync('JSON.stringify([eo.copy({ transferIn: true }), eo.copy()])'),
        '[{"a":1,"b":[2]},{"a":1,"b":[2]}]',
      );
      const holder = new ivm.ExternalCopy({ buf: new Uint8Array([1]).buffer });
      assert.equal(holder.copy({ transferIn: true }).buf.byteLength, 1);
      assert.equal(holder.copy().buf.byteLength, 1);
      const text = new ivm.ExternalCopy('hello');
      assert.equal(text.copy({ transferIn: true }), 'hello');
      assert.equal(text.copy(), 'hello');
      for (const c of [copy, holder, text]) c.release();
    }));

  // totalExternalSize counts the bytes of strings held by ExternalCopy (two per char for two-byte strings).
  it('totalExternalSize counts strings and gives them back on release', () => {
    assert.equal(typeof ivm.ExternalCopy.totalExternalSize, 'number');
    const before = ivm.ExternalCopy.totalExternalSize;
    const oneByte = new ivm.ExternalCopy('x'.repeat(1e6));
    const withOne = ivm.ExternalCopy.totalExternalSize;
    assert.ok(withOne - before >= 1e6, `grew by ${withOne - before}`);
    oneByte.release();
    const released = ivm.ExternalCopy.totalExternalSize;
    assert.ok(withOne - released >= 1e6, `shrank by ${withOne - released}`);
    const twoByte = new ivm.ExternalCopy('€'.repeat(1e6));
    const withTwo = ivm.ExternalCopy.totalExternalSize;
    assert.ok(withTwo - released >= 2e6, `grew by ${withTwo - released}`);
    twoByte.release();
    assert.ok(withTwo - ivm.ExternalCopy.totalExternalSize >= 2e6);
  });

  // An ExternalCopy of a SharedArrayBuffer shares its memory with Node and with every isolate it is copied into.
  it('an ExternalCopy of a SharedArrayBuffer shares memory with isolates', () =>
    withContext((context) => {
      const shared = new SharedArrayBuffer(8);
      const view = new Int32Array(shared);
      const copy = new ivm.ExternalCopy(shared);
      context.global.setSync('shared', copy.copyInto());
      assert.equal(
        context.evalSync(
          'const v = new Int32Array(shared); v[0] = 42; [shared instanceof SharedArrayBuffer, shared.byteLength].join()',
        ),
        'true,8',
      );
      assert.equal(view[0], 42, 'Node sees the write made in the isolate');
      view[0] = 99;
      assert.equal(context.evalSync('new Int32Array(shared)[0]'), 99, 'the isolate sees the write made in Node');
      context.global.setSync('sharedCopy', copy);
      context.evalSync('new Int32Array(sharedCopy.copy())[1] = 11');
      assert.equal(view[1], 11, 'a copy made inside the isolate shares it too');
      const hostCopy = copy.copy({ transferIn: true });
      assert.ok(hostCopy instanceof SharedArrayBuffer);
      new Int32Array(hostCopy)[0] = 7;
      assert.equal(view[0], 7, 'a host copy shares it');
      assert.equal(copy.copy().byteLength, 8, 'transferIn does not consume a SharedArrayBuffer copy');
      copy.release();
    }));
});

describe('9. lifecycle', () => {
  // A createContext() queued before dispose() still resolves, to a Context of the now-disposed isolate.
  it('dispose() lets an already queued createContext() resolve', { timeout: 20000 }, async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const pending = isolate.createContext();
    isolate.dispose();
    const context = await pending;
    assert.ok(context instanceof ivm.Context);
    assert.equal(thrown(() => context.evalSync('1')).message, 'Isolated is disposed');
  });

  // Work queued behind a running call is rejected when dispose() lands; the running call fails too.
  it('dispose() rejects the running call and the work queued behind it', { timeout: 20000 }, async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const context = isolate.createContextSync();
    let started = false;
    context.global.setSync(
      'markStarted',
      new ivm.Callback(() => {
        started = true;
      }),
    );
    const running = context.eval('markStarted(); const t = Date.now(); while (Date.now() - t < 2000);');
    const queued = isolate.createContext();
    // Dispose once the call is running (or after a second, should the callback never come).
    for (let waited = 0; !started && waited < 1000; waited += 5) await tick(5);
    isolate.dispose();
    assert.equal((await rejection(running)).message, 'Isolate was disposed during execution');
    assert.equal((await rejection(queued)).message, 'Isolate is disposed');
  });

  // The constructible classes throw a TypeError when called without `new`.
  it('class constructors called without new throw TypeError', () => {
    // (isolated-vm aborts the process for Context() and Script(), so those are left out.)
    for (const name of ['Isolate', 'ExternalCopy', 'Reference', 'Callback']) {
      const error = thrown(() => ivm[name](), `ivm.${name}()`);
      assert.equal(error.constructor, TypeError, name);
      assert.equal(error.message, `\`${name}\` must be called with \`new\``);
    }
  });

  // Constructors check their arguments, throwing TypeErrors with isolated-vm's messages.
  it('constructors reject missing or wrongly typed arguments with TypeError', () => {
    const cases = [
      [() => new ivm.Isolate('x'), '`Isolate` requires parameter 1 to be an object'],
      [() => new ivm.Isolate(1), '`Isolate` requires parameter 1 to be an object'],
      [() => new ivm.Isolate({ memoryLimit: 'x' }), '`memoryLimit` must be a number'],
      [() => new ivm.ExternalCopy(), '`ExternalCopy` requires at least 1 parameter'],
      [() => new ivm.ExternalCopy(Symbol('s')), 'Unsupported type'],
      [() => new ivm.Reference(), '`Reference` requires at least 1 parameter'],
      [() => new ivm.Callback(), '`Callback` requires at least 1 parameter'],
      [() => new ivm.Callback(1), '`Callback` requires parameter 1 to be a function'],
      [() => new ivm.Callback({}), '`Callback` requires parameter 1 to be a function'],
    ];
    for (const [make, message] of cases) {
      const error = thrown(make);
      assert.equal(error.constructor, TypeError, message);
      assert.equal(error.message, message);
    }
    // A function cannot be copied: V8's DataCloneError text, as a TypeError.
    const clone = thrown(() => new ivm.ExternalCopy(() => 1));
    assert.equal(clone.constructor, TypeError);
    assert.equal(clone.message, '() => 1 could not be cloned.');
    // null is accepted as "no options"; a Reference may hold a primitive.
    const isolate = new ivm.Isolate(null);
    assert.ok(isolate instanceof ivm.Isolate);
    isolate.dispose();
    assert.ok(new ivm.Reference(1) instanceof ivm.Reference);
  });

  // The module object and every class's prototype are frozen; the constructors themselves are not.
  it('the exports and the classes\' prototypes are frozen', () => {
    assert.ok(Object.isFrozen(ivm), 'the module object');
    for (const name of ['Callback', 'Context', 'ExternalCopy', 'Isolate', 'Reference', 'Script']) {
      assert.equal(typeof ivm[name], 'function', name);
      assert.ok(Object.isFrozen(ivm[name].prototype), `${name}.prototype`);
      assert.equal(Object.isFrozen(ivm[name]), false, `${name} itself`);
    }
    assert.throws(() => {
      ivm.Isolate.prototype.extra = 1;
    }, TypeError);
    assert.throws(() => {
      ivm.extra = 1;
    }, TypeError);
  });

  // V8 flags given to Node (here --expose-gc) reach the isolates' V8.
  it('V8 flags given to node reach the isolates', { timeout: 60000 }, () => {
    const implementation = path.join(__dirname, 'support', 'implementation.js');
    const script = `
      const { ivm } = require(${JSON.stringify(implementation)});
      const isolate = new ivm.Isolate({ memoryLimit: 32 });
      const result = [typeof gc, isolate.createContextSync().evalSync('typeof gc')];
      isolate.dispose();
      process.stdout.write(JSON.stringify(result));`;
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const keep = process.execArgv.filter((arg) => arg === '--no-node-snapshot');
    const run = (flags) => {
      const child = spawnSync(process.execPath, [...keep, ...flags, '-e', script], {
        env,
        encoding: 'utf8',
        timeout: 30000,
      });
      assert.equal(child.status, 0, `child failed: ${child.stderr}`);
      return JSON.parse(child.stdout);
    };
    assert.deepEqual(run(['--expose-gc']), ['function', 'function']);
    assert.deepEqual(run([]), ['undefined', 'undefined']);
  });
});

describe('10. CPU profiler', () => {
  // stopCpuProfiler resolves to [{threadId, profile}] where profile has Profiler.Profile's shape.
  it('stopCpuProfiler resolves to thread profiles holding the function run in between', () =>
    withContext(async (context, isolate) => {
      isolate.startCpuProfiler('t1');
      context.evalSync(
        'function hotFunction() { let x = 0; const t = Date.now(); while (Date.now() - t < 200) x++; return x }\n' +
          'hotFunction()',
        { filename: 'hot.js' },
      );
      const pending = isolate.stopCpuProfiler('t1');
      assert.ok(pending instanceof Promise);
      const result = await pending;
      assert.ok(Array.isArray(result));
      assert.ok(result.length >= 1);
      for (const entry of result) {
        assert.deepEqual(Object.keys(entry).sort(), ['profile', 'threadId']);
        assert.equal(typeof entry.threadId, 'number');
        const { profile } = entry;
        assert.deepEqual(Object.keys(profile).sort(), ['endTime', 'nodes', 'samples', 'startTime', 'timeDeltas']);
        assert.equal(typeof profile.startTime, 'number');
        assert.equal(typeof profile.endTime, 'number');
        assert.ok(profile.startTime <= profile.endTime);
        assert.ok(Array.isArray(profile.samples));
        assert.ok(Array.isArray(profile.timeDeltas));
        assert.equal(profile.samples.length, profile.timeDeltas.length);
        assert.ok(Array.isArray(profile.nodes) && profile.nodes.length >= 1);
        const ids = new Set(profile.nodes.map((node) => node.id));
        for (const node of profile.nodes) {
          assert.equal(typeof node.id, 'number');
          assert.equal(typeof node.hitCount, 'number');
          assert.ok(Array.isArray(node.children));
          for (const child of node.children) assert.ok(ids.has(child));
          const frame = node.callFrame;
          assert.equal(typeof frame.functionName, 'string');
          assert.equal(typeof frame.url, 'string');
          assert.equal(typeof frame.scriptId, 'number');
          assert.equal(typeof frame.lineNumber, 'number');
          assert.equal(typeof frame.columnNumber, 'number');
        }
        for (const sample of profile.samples) assert.ok(ids.has(sample), 'samples name node ids');
        assert.equal(profile.nodes[0].callFrame.functionName, '(root)');
        // It is plain data: it survives JSON.
        assert.deepEqual(JSON.parse(JSON.stringify(profile)), profile);
      }
      const hot = result
        .flatMap((entry) => entry.profile.nodes)
        .find((node) => node.callFrame.functionName === 'hotFunction');
      assert.ok(hot, 'hotFunction is in the profile');
      assert.equal(hot.callFrame.url, 'hot.js');
      assert.ok(hot.hitCount > 0);
    }));

  // Each time the isolate is entered while profiling gives its own profile in the result.
  it('each run while profiling gives its own profile', () =>
    withContext(async (context, isolate) => {
      isolate.startCpuProfiler('a');
      context.evalSync('function firstRun() { const t = Date.now(); while (Date.now() - t < 60); } firstRun()');
      context.evalSync('function secondRun() { const t = Date.now(); while (Date.now() - t < 60); } secondRun()');
      const result = await isolate.stopCpuProfiler('a');
      const holding = (name) =>
        result.findIndex((entry) => entry.profile.nodes.some((node) => node.callFrame.functionName === name));
      assert.ok(result.length >= 2, `${result.length} profiles`);
      assert.notEqual(holding('firstRun'), -1);
      assert.notEqual(holding('secondRun'), -1);
      assert.notEqual(holding('firstRun'), holding('secondRun'));
    }));

  // Stopping a title that was never started resolves to an empty array.
  it('stopping an unknown title resolves to []', () =>
    withContext(async (context, isolate) => {
      assert.deepEqual(await isolate.stopCpuProfiler('never started'), []);
    }));
});
