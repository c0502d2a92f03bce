//! Limits that hostile code must not break: memory, time, and disposal from
//! another thread. Every test here ends with the process alive, which is the
//! point.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ivm::{Error, EvalOptions, Isolate, IsolateOptions, RunOptions, Structured, Transferable, Value};
use ivm_tests::eval;

/// Scripts that each try a different way to exhaust memory.
const HOSTILE_ALLOCATIONS: [&str; 20] = [
    "const a = []; while (true) a.push(new Array(100000).fill(1.5));",
    "const a = []; while (true) a.push({ x: Math.random(), y: [1, 2, 3] });",
    "let s = 'x'; while (true) { s = s + s; s.charCodeAt(s.length - 1); }",
    "const parts = []; while (true) parts.push('y'.repeat(1 << 20) + Math.random());",
    "const a = []; while (true) a.push('q'.repeat(1 << 22).toUpperCase());",
    "new Array(2 ** 25).fill(0.5);",
    "Array.from({ length: 2 ** 26 }, (_, i) => ({ i }));",
    "const a = []; while (true) a.push(new ArrayBuffer(1 << 20));",
    "new ArrayBuffer(2 ** 31);",
    "const a = []; while (true) a.push(new Float64Array(1 << 18));",
    "const a = []; while (true) { try { a.push(new Uint8Array(1 << 22)); } catch (e) {} }",
    "const m = new Map(); for (let i = 0; ; i++) m.set(i, 'v' + i);",
    "const s = new Set(); for (let i = 0; ; i++) s.add({ i });",
    "const o = {}; for (let i = 0; ; i++) o['key' + i] = i;",
    "let f = () => 0; const keep = []; while (true) { const big = new Array(1000).fill(f); keep.push(() => big); }",
    "const a = []; while (true) a.push(JSON.parse('[' + '1,'.repeat(10000) + '1]'));",
    "function grow(n) { const a = new Array(1e5).fill(n); return [a, grow]; } const all = []; while (true) all.push(grow(1));",
    "let chain = null; while (true) chain = { next: chain, pad: new Array(64).fill(chain) };",
    "const a = []; while (true) a.push(Symbol('s'.repeat(1000)), new Date(), /re/g, [1n << 1000n]);",
    "const strings = []; for (let i = 0; ; i++) strings.push(('p' + i).padEnd(10000, String(i)));",
];

#[test]
fn twenty_hostile_allocations_in_a_row_each_hit_the_limit() {
    for (i, code) in HOSTILE_ALLOCATIONS.iter().enumerate() {
        let isolate = Isolate::new(IsolateOptions::new().memory_limit(16)).unwrap();
        let context = isolate.create_context().unwrap();
        let result = context.eval(code, &EvalOptions::new());
        assert!(matches!(result, Err(Error::MemoryLimit)), "script {i} ({code}) ended in {result:?}");
        assert!(isolate.is_disposed(), "script {i}: the isolate is disposed after its limit");
        assert!(matches!(context.eval("1", &EvalOptions::new()), Err(Error::Disposed)));
    }
    // The host is alive and isolates still work.
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    assert_eq!(eval(&isolate.create_context().unwrap(), "6 * 7"), Value::Number(42.0));
}

#[test]
fn hostile_allocations_in_parallel_isolates() {
    let threads: Vec<_> = HOSTILE_ALLOCATIONS[..4]
        .iter()
        .map(|code| {
            std::thread::spawn(move || {
                let isolate = Isolate::new(IsolateOptions::new().memory_limit(8)).unwrap();
                let context = isolate.create_context().unwrap();
                context.eval(code, &EvalOptions::new())
            })
        })
        .collect();
    for thread in threads {
        let result = thread.join().unwrap();
        assert!(matches!(result, Err(Error::MemoryLimit)), "{result:?}");
    }
}

#[test]
fn polite_code_stays_within_a_small_limit() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(8)).unwrap();
    let context = isolate.create_context().unwrap();
    for _ in 0..50 {
        // Garbage that is collected as it goes never trips the limit.
        let total =
            eval(&context, "{ let t = 0; for (let i = 0; i < 1000; i++) t += new Array(1000).fill(1).length; t }");
        assert_eq!(total, Value::Number(1_000_000.0));
    }
    assert!(!isolate.is_disposed());
}

#[test]
fn an_infinite_loop_times_out_and_the_isolate_stays_usable() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let start = Instant::now();
    let result = context.eval("while (true) {}", &EvalOptions::new().timeout(Duration::from_millis(50)));
    let elapsed = start.elapsed();
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(elapsed >= Duration::from_millis(50) && elapsed < Duration::from_millis(500), "took {elapsed:?}");
    assert_eq!(eval(&context, "1+1"), Value::Number(2.0));
    assert_eq!(result.unwrap_err().to_string(), "Script execution timed out.");
}

/// Where the runaway code was when its deadline came, for the timeout's
/// stack (the Node binding shows it as isolated-vm does); read once, on the
/// thread that made the call.
#[test]
fn a_timed_out_call_says_where_its_code_was() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let options = EvalOptions::new().timeout(Duration::from_millis(50)).origin(ivm::ScriptOrigin::new("spin.js"));
    let result = context.eval("function spin() { for (;;) {} }\nspin()", &options);
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    let frames = ivm_core::embedding::take_timed_out_frames().expect("the runaway code's frames");
    assert!(frames.starts_with("    at spin (spin.js:1:"), "{frames}");
    assert!(frames.ends_with("\n    at spin.js:2:1"), "{frames}");
    assert_eq!(ivm_core::embedding::take_timed_out_frames(), None, "read once");
    // A call that finished in time leaves none behind.
    assert_eq!(eval(&context, "1+1"), Value::Number(2.0));
    assert_eq!(ivm_core::embedding::take_timed_out_frames(), None);
}

#[test]
fn timeouts_cover_every_way_to_run_code() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let timeout = Duration::from_millis(30);
    let run = RunOptions::new().timeout(timeout);
    let eval_options = EvalOptions::new().timeout(timeout);

    let closure = context.eval_closure("for (;;) {}", &[], &eval_options);
    assert!(matches!(closure, Err(Error::Timeout)), "{closure:?}");

    let script = isolate.compile_script("for (;;) {}", &Default::default()).unwrap();
    assert!(matches!(script.run(&context, &run), Err(Error::Timeout)));

    let spin = eval(&context, "(function spin() { while (true) {} })").into_reference().unwrap();
    assert!(matches!(spin.apply((), &[], &run), Err(Error::Timeout)));

    // Microtasks queued by the script run inside the call, under its deadline.
    let microtask = context.eval("Promise.resolve().then(() => { while (true) {} }); 'queued'", &eval_options);
    assert!(matches!(microtask, Err(Error::Timeout)), "{microtask:?}");

    // Optimised loops stay interruptible (V8's Turboshaft loop unrolling
    // would drop this loop's interrupt check; ivm turns it off).
    let unrolled = context.eval("let x; while (true) { x = new Array(64); }", &eval_options);
    assert!(matches!(unrolled, Err(Error::Timeout)), "{unrolled:?}");

    // A catch block cannot swallow the termination.
    let catching = context.eval("while (true) { try { while (true) {} } catch (e) {} }", &eval_options);
    assert!(matches!(catching, Err(Error::Timeout)), "{catching:?}");

    assert_eq!(eval(&context, "'alive'"), Value::from("alive"));
}

#[test]
fn finished_calls_are_never_hit_by_their_timeout_later() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    // Timeouts far longer than the calls take, even in a debug build on a
    // busy machine (the other tests here run hostile isolates beside this
    // one), and a sleep past them: a timer that was not cancelled fires
    // during the sleep, and its termination would hit the next call.
    let options = EvalOptions::new().timeout(Duration::from_millis(50));
    for i in 0..200 {
        assert_eq!(context.eval(&format!("{i} + 1"), &options).unwrap(), Value::Number(f64::from(i + 1)));
    }
    std::thread::sleep(Duration::from_millis(100));
    // Nothing armed by the calls above may terminate this one.
    let slow = eval(&context, "let n = 0; const end = Date.now() + 50; while (Date.now() < end) n++; 'done'");
    assert_eq!(slow, Value::from("done"));
}

#[test]
fn disposing_from_another_thread_stops_a_running_script() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        context.eval("while (true) {}", &EvalOptions::new())
    });
    started_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    isolate.dispose().unwrap();
    let result = runner.join().unwrap();
    assert!(matches!(result, Err(Error::DisposedDuringExecution)), "{result:?}");
    assert!(isolate.is_disposed());
}

/// Scripts that V8 answers with a deliberate crash ("invalid size"), not an
/// exception: more elements than a V8 array can hold.
const FATAL_SCRIPTS: [&str; 2] = ["'z'.repeat(2 ** 28).split('')", "'a'.repeat(2 ** 26).replace(/a/g, '$&$&')"];

#[test]
fn a_fatal_v8_error_ends_the_call_with_the_memory_limit_error_and_the_process_lives() {
    for script in FATAL_SCRIPTS {
        let (report_tx, report_rx) = mpsc::channel::<String>();
        let report_tx = std::sync::Mutex::new(report_tx);
        let options = IsolateOptions::new().memory_limit(32).on_catastrophic_error(move |message| {
            report_tx.lock().unwrap().send(message.to_owned()).unwrap();
        });
        let isolate = Isolate::new(options).unwrap();
        let context = isolate.create_context().unwrap();
        // On a thread of its own, so that a regression fails the test
        // instead of hanging it.
        let (result_tx, result_rx) = mpsc::channel();
        std::thread::spawn(move || {
            result_tx
                .send(context.eval(script, &EvalOptions::new()).map(|_| ()).map_err(|error| error.to_string()))
                .unwrap()
        });
        let result = result_rx.recv_timeout(Duration::from_secs(60)).expect("the call returns");
        assert_eq!(result, Err(Error::MemoryLimit.to_string()), "{script}");
        let report = report_rx.recv_timeout(Duration::from_secs(1)).expect("the handler is called");
        // An "invalid size" crash, or running out of memory on the way to it.
        assert!(report.contains("V8 fatal error") || report.contains("V8 ran out of memory"), "{report}");
        assert!(isolate.is_disposed());
        assert!(matches!(isolate.dispose(), Err(Error::Disposed)));
        assert!(matches!(isolate.heap_statistics(), Err(Error::Disposed)));
        assert!(matches!(isolate.create_context(), Err(Error::Disposed)));
    }
    let fresh = Isolate::new(IsolateOptions::new()).unwrap();
    assert_eq!(eval(&fresh.create_context().unwrap(), "'alive'"), Value::from("alive"));
}

#[test]
fn a_fatal_v8_error_in_an_async_call_rejects_it_and_later_calls_fail() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    let context = isolate.create_context().unwrap();
    let lost = context.eval_async(FATAL_SCRIPTS[0], EvalOptions::new());
    let after = context.eval_async("1", EvalOptions::new());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lost = futures_executor::block_on(lost).map(|_| ()).map_err(|error| error.to_string());
        let after = futures_executor::block_on(after).map(|_| ()).map_err(|error| error.to_string());
        tx.send((lost, after)).unwrap();
    });
    let (lost, after) = rx.recv_timeout(Duration::from_secs(60)).expect("both calls settle");
    assert_eq!(lost, Err(Error::MemoryLimit.to_string()));
    assert!(after.is_err(), "{after:?}");
    assert!(isolate.is_disposed());
}

#[test]
fn a_memory_limit_error_disposes_only_its_own_isolate() {
    let bystander = Isolate::new(IsolateOptions::new()).unwrap();
    let bystander_context = bystander.create_context().unwrap();
    eval(&bystander_context, "globalThis.kept = 'safe'");

    let victim = Isolate::new(IsolateOptions::new().memory_limit(8)).unwrap();
    let result = victim.create_context().unwrap().eval(HOSTILE_ALLOCATIONS[0], &EvalOptions::new());
    assert!(matches!(result, Err(Error::MemoryLimit)));
    assert_eq!(eval(&bystander_context, "kept"), Value::from("safe"));
}

#[test]
fn host_buffers_count_against_the_memory_limit_and_one_too_large_is_refused() {
    use ivm::{Buffer, Object, ObjectId};
    let buffer = |bytes: usize| {
        let graph =
            Structured::new(Value::Object(ObjectId(0)), vec![Object::ArrayBuffer(Buffer::from(vec![7u8; bytes]))]);
        Transferable::Copy(graph.unwrap())
    };
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(16)).unwrap();
    let context = isolate.create_context().unwrap();
    let before = isolate.heap_statistics().unwrap().externally_allocated_size;
    let kept =
        context.eval_closure("globalThis.kept = $0; return $0.byteLength", &[buffer(4 << 20)], &EvalOptions::new());
    assert_eq!(kept.unwrap(), Value::Number(f64::from(4u32 << 20)));
    let after = isolate.heap_statistics().unwrap().externally_allocated_size;
    assert!(after >= before + (4 << 20), "the copy is charged to the isolate: {before} -> {after}");

    match context.eval_closure("return $0.byteLength", &[buffer(64 << 20)], &EvalOptions::new()) {
        Err(Error::Js(error)) => assert_eq!(error.name, "RangeError", "{error}"),
        other => panic!("expected a RangeError, got {other:?}"),
    }
    assert!(!isolate.is_disposed(), "the host's oversized value is not the isolate's fault");
    assert_eq!(eval(&context, "new Uint8Array(kept)[0]"), Value::Number(7.0));
}

/// Issue 24's case: a string the host sets that is far larger than the
/// isolate's limit is refused before any of it is made; one that fits is not.
#[test]
fn host_values_that_do_not_fit_the_heap_are_refused_and_the_isolate_is_kept() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    let context = isolate.create_context().unwrap();
    let global = context.global().unwrap();
    let string = |bytes: usize| Value::String("y".repeat(bytes).into());
    for (what, result) in [
        ("set", global.set("big", string(64 << 20), &RunOptions::new()).map(drop)),
        (
            "a closure's argument",
            context.eval_closure("globalThis.big = $0", &[string(64 << 20).into()], &EvalOptions::new()).map(drop),
        ),
        ("an ExternalCopy", {
            let copy = ivm::ExternalCopy::new(Structured::from(string(64 << 20)));
            let argument = Transferable::ExternalCopy(copy, Default::default());
            context.eval_closure("globalThis.big = $0", &[argument], &EvalOptions::new()).map(drop)
        }),
    ] {
        match result {
            Err(Error::Js(error)) => {
                assert_eq!(error.name, "RangeError", "{what}: {error}");
                assert!(error.message.contains("memory limit"), "{what}: {error}");
            }
            other => panic!("{what}: expected a RangeError, got {other:?}"),
        }
        assert!(!isolate.is_disposed(), "{what}: the host's oversized value is not the isolate's fault");
        assert_eq!(eval(&context, "typeof big"), Value::String("undefined".into()), "{what}: nothing was set");
    }
    global.set("fits", string(4 << 20), &RunOptions::new()).unwrap();
    assert_eq!(eval(&context, "fits.length"), Value::Number(f64::from(4u32 << 20)));
}

/// V8's compilation cache keeps every distinct source it compiled until a
/// last-resort collection, which the memory limit must give before it
/// calls the heap full.
#[test]
fn compiling_many_scripts_in_one_isolate_stays_within_its_limit() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(16)).unwrap();
    let library: String = (0..300).map(|i| format!("function f{i}(x) {{ return x * {i} + {i}; }}\n")).collect();
    for round in 0..1000 {
        let script = isolate.compile_script(&format!("{library}//{round}"), &ivm::CompileOptions::new());
        assert!(script.is_ok(), "round {round}: {script:?}");
    }
}

#[test]
fn evaluating_many_scripts_in_one_isolate_stays_within_its_limit() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(16)).unwrap();
    let context = isolate.create_context().unwrap();
    let library: String = (0..300).map(|i| format!("function f{i}(x) {{ return x * {i} + {i}; }}\n")).collect();
    for round in 0..1000 {
        let result = context.eval(&format!("{library}//{round}\n1"), &EvalOptions::new());
        assert!(result.is_ok(), "round {round}: {result:?}");
    }
}

#[test]
fn the_clocks_move_while_a_call_runs_and_count_reentrant_runs() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (probe_isolate, probe_seen) = (isolate.clone(), std::sync::Arc::clone(&seen));
    let probe = ivm::Callback::new(move |_| {
        probe_seen.lock().unwrap().push((probe_isolate.cpu_time(), probe_isolate.wall_time()));
        Ok(Value::Undefined.into())
    });
    context.global().unwrap().set("probe", probe, &RunOptions::new()).unwrap();
    let before = (isolate.cpu_time(), isolate.wall_time());
    eval(
        &context,
        "function spin(ms) { const t = Date.now(); while (Date.now() - t < ms); } spin(20); probe(); spin(20); probe()",
    );
    let after = (isolate.cpu_time(), isolate.wall_time());
    let seen = seen.lock().unwrap();
    // Read from inside the call, the clocks have moved, and go on moving.
    assert!(seen[0].1 > before.1 && seen[1].1 > seen[0].1, "{before:?} {seen:?}");
    assert!(seen[0].0 > before.0 && seen[1].0 > seen[0].0, "{before:?} {seen:?}");
    assert!(seen[1].1 - seen[0].1 >= Duration::from_millis(15));
    // They never go back, and the call's end counts it all.
    assert!(after.0 >= seen[1].0 && after.1 >= seen[1].1);
}

#[test]
fn a_zero_timeout_is_no_timeout_as_in_isolated_vm() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let options = EvalOptions::new().timeout(Duration::ZERO);
    let result = context.eval("let n = 0; for (let i = 0; i < 1e6; i++) n += i; n", &options);
    assert_eq!(result.unwrap(), Value::Number(499999500000.0));
}

/// Issue 22: WebAssembly memories are charged to their isolate, also while
/// another isolate runs (when the process's growth is not judged): past the
/// limit and its overshoot, making one is a RangeError and the isolate goes
/// on; memories collected give their share back.
#[test]
fn webassembly_memories_are_charged_to_their_isolate_while_others_run() {
    let busy = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    let busy_context = busy.create_context().unwrap();
    let spinning = busy_context.eval_async(
        "const end = Date.now() + 2000; while (Date.now() < end);",
        EvalOptions::new().timeout(Duration::from_secs(10)),
    );
    std::thread::sleep(Duration::from_millis(100));
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    let context = isolate.create_context().unwrap();
    let made = eval(
        &context,
        "globalThis.kept = []; \
         try { for (let i = 0; i < 48; i++) { const m = new WebAssembly.Memory({ initial: 512, maximum: 512 }); \
               new Uint8Array(m.buffer).fill(1); kept.push(m); } 'all made' } \
         catch (e) { kept.length + ' ' + e.name }",
    );
    let made = made.as_value().and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
    assert!(made == "1 RangeError" || made == "0 RangeError", "{made}");
    assert!(!isolate.is_disposed());
    let churned = eval(
        &context,
        "kept.length = 0; for (let i = 0; i < 40; i++) new Uint8Array(new WebAssembly.Memory({ initial: 256 }).buffer).fill(1); 'made'",
    );
    assert_eq!(churned, Value::from("made"), "collected memories give their share back");
    futures_executor::block_on(spinning).unwrap();
}

/// Issue 22: what leaves an isolate is bounded by its memory limit as it is
/// made, with an error that names the limit: a rope that is a few bytes of
/// heap but 256 MiB as text, a string referred to 2,000 times, a thrown
/// rope, and a stack that `Error.prepareStackTrace` makes that long.
#[test]
fn values_leaving_an_isolate_are_bounded_by_its_memory_limit() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    let context = isolate.create_context().unwrap();
    let rope = "let s = 'x'.repeat(1 << 20); for (let i = 0; i < 8; i++) s = s + s;";
    for (what, code) in [
        ("a rope", format!("{{ {rope} s }}")),
        ("a string referred to 2,000 times", "{ const s = 'y'.repeat(1 << 20); Array(2000).fill(s) }".to_owned()),
    ] {
        match context.eval(&code, &EvalOptions::new().result(ivm::TransferMode::Copy)) {
            Err(error @ Error::Marshal(_)) => {
                assert_eq!(error.class_name(), "TransferError", "{what}");
                assert!(error.to_string().contains("32 MiB"), "{what}: {error}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    match context.eval(&format!("{{ {rope} throw s }}"), &EvalOptions::new()) {
        Err(Error::Js(error)) => assert!(error.name == "RangeError" && error.message.contains("32 MiB"), "{error:?}"),
        other => panic!("{other:?}"),
    }
    match context.eval(
        &format!("Error.prepareStackTrace = () => {{ {rope} return s; }}; throw new Error('x')"),
        &EvalOptions::new(),
    ) {
        Err(Error::Js(error)) => {
            let stack = error.stack.unwrap_or_default();
            assert!(stack.len() < 1000 && stack.contains("32 MiB"), "{stack}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!isolate.is_disposed(), "the isolate is not at fault");
    assert_eq!(eval(&context, "'y'.repeat(1 << 20).length"), Value::Number(f64::from(1u32 << 20)));
}

/// The cap on allocations while V8 serializes a copy out of an isolate is
/// for V8's buffer: a host function that a getter of the copied value calls
/// allocates as the host does (a failed allocation would abort the process).
#[test]
fn a_host_function_a_copy_reaches_through_a_getter_allocates_as_the_host_does() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    let context = isolate.create_context().unwrap();
    let allocate = ivm::Callback::new(|_| {
        let block = vec![1u8; 64 << 20];
        Ok(Value::Number(block.iter().map(|&b| f64::from(b)).sum()).into())
    });
    context.global().unwrap().set("allocate", allocate, &RunOptions::new()).unwrap();
    let copied = context
        .eval("({ get total() { return allocate(); } })", &EvalOptions::new().result(ivm::TransferMode::Copy))
        .unwrap();
    let Transferable::Copy(copy) = copied else { panic!("{copied:?}") };
    let ivm::Object::Plain(properties) = &copy.objects()[0] else { panic!("{copy:?}") };
    assert_eq!(properties[0].1, Value::Number(f64::from(64u32 << 20)));
}
