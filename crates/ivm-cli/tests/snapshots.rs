//! Startup snapshots, made by `ivm snapshot-worker` processes: made from
//! scripts under limits, booted from with the scripts' globals in place,
//! and refused cleanly when broken, hostile or not a snapshot at all. (Here
//! because the worker is this package's command.)

use std::time::{Duration, Instant};

use ivm::{Error, EvalOptions, Isolate, IsolateOptions, ScriptOrigin, SnapshotScript, SnapshotWorker, Value};

/// Options whose worker is the `ivm` command.
fn options() -> ivm::SnapshotOptions {
    ivm::SnapshotOptions::new().worker(SnapshotWorker::new(env!("CARGO_BIN_EXE_ivm")).arg("snapshot-worker"))
}

fn create_snapshot(
    scripts: &[SnapshotScript],
    warmup: Option<&str>,
    options: &ivm::SnapshotOptions,
) -> ivm::Result<Vec<u8>> {
    ivm::create_snapshot(scripts, warmup, options)
}

fn script(code: &str) -> SnapshotScript {
    SnapshotScript::new(code, ScriptOrigin::new("setup.js"))
}

fn eval(isolate: &Isolate, code: &str) -> Value {
    let context = isolate.create_context().unwrap();
    context.eval(code, &EvalOptions::new()).unwrap().into_value().expect("a primitive")
}

#[test]
fn an_isolate_booted_from_a_snapshot_has_the_scripts_globals() {
    let snapshot = create_snapshot(
        &[script("globalThis.greet = (name) => `hello ${name}`;"), script("var counter = 41; counter++;")],
        None,
        &options(),
    )
    .unwrap();
    let isolate = Isolate::new(IsolateOptions::new().snapshot(snapshot.clone())).unwrap();
    assert_eq!(eval(&isolate, "greet('snapshot') + ' ' + counter"), Value::from("hello snapshot 42"));
    // Every context of the isolate starts from the snapshot, independently.
    let context = isolate.create_context().unwrap();
    context.eval("counter = 0", &EvalOptions::new()).unwrap();
    assert_eq!(eval(&isolate, "counter"), Value::Number(42.0));
    // A plain isolate has none of it.
    let plain = Isolate::new(IsolateOptions::new()).unwrap();
    assert_eq!(eval(&plain, "typeof greet"), Value::from("undefined"));
    // Limits hold in booted isolates too.
    let limited = Isolate::new(IsolateOptions::new().snapshot(snapshot).memory_limit(16)).unwrap();
    let hog = limited
        .create_context()
        .unwrap()
        .eval("const a = []; while (true) a.push(new Array(1e5).fill(1))", &EvalOptions::new());
    assert!(matches!(hog, Err(Error::MemoryLimit)), "{hog:?}");
}

#[test]
fn a_warmup_script_keeps_compiled_code_but_not_its_state() {
    let snapshot = create_snapshot(
        &[script("function square(x) { return x * x; } var calls = 0;")],
        Some("for (let i = 0; i < 1000; i++) { square(i); calls++; }"),
        &options(),
    )
    .unwrap();
    let isolate = Isolate::new(IsolateOptions::new().snapshot(snapshot)).unwrap();
    assert_eq!(eval(&isolate, "square(12) + calls"), Value::Number(144.0));
}

#[test]
fn broken_or_hostile_scripts_are_errors() {
    match create_snapshot(&[script("throw new TypeError('setup failed')")], None, &options()) {
        Err(Error::Js(error)) => {
            assert_eq!((error.name.as_str(), error.message.as_str()), ("TypeError", "setup failed"))
        }
        other => panic!("expected the script's error, got {other:?}"),
    }
    assert!(matches!(create_snapshot(&[script("let = ;")], None, &options()), Err(Error::Js(_))));
    let started = Instant::now();
    let spin = create_snapshot(&[script("while (true) {}")], None, &options().timeout(Duration::from_millis(100)));
    assert!(matches!(spin, Err(Error::Timeout)), "{spin:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let hog = create_snapshot(
        &[script("const a = []; while (true) a.push(new Array(1e5).fill(1))")],
        None,
        &options().memory_limit(16),
    );
    assert!(matches!(hog, Err(Error::MemoryLimit)), "{hog:?}");
    let warmup = create_snapshot(&[script("var x = 1")], Some("throw new Error('warmup failed')"), &options());
    assert!(matches!(warmup, Err(Error::Js(_))), "{warmup:?}");
}

#[test]
fn bytes_that_are_not_a_snapshot_are_refused_before_v8_sees_them() {
    let snapshot = create_snapshot(&[script("var ok = true")], None, &options()).unwrap();
    let mut corrupt = snapshot.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    for bad in [Vec::new(), b"not a snapshot at all".to_vec(), corrupt, snapshot[..snapshot.len() / 2].to_vec()] {
        match Isolate::new(IsolateOptions::new().snapshot(bad)) {
            Err(Error::InvalidArgument(message)) => assert!(message.contains("not a usable snapshot"), "{message}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let isolate = Isolate::new(IsolateOptions::new().snapshot(snapshot)).unwrap();
    assert_eq!(eval(&isolate, "ok"), Value::Bool(true));
}

#[test]
fn snapshots_are_made_while_other_isolates_run() {
    // V8 cannot make a snapshot beside running isolates: the worker process
    // is what lets this work.
    let busy: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                let snapshot = create_snapshot(&[script(&format!("var n = {i}"))], Some("n + 1"), &options()).unwrap();
                for _ in 0..20 {
                    let isolate = Isolate::new(IsolateOptions::new().snapshot(snapshot.clone())).unwrap();
                    assert_eq!(eval(&isolate, "n"), Value::Number(f64::from(i)));
                    let plain = Isolate::new(IsolateOptions::new()).unwrap();
                    assert_eq!(eval(&plain, "[1, 2].map((x) => x * 3).join()"), Value::from("3,6"));
                }
            })
        })
        .collect();
    for thread in busy {
        thread.join().unwrap();
    }
}

#[test]
fn a_missing_or_failing_worker_is_an_error() {
    let none = ivm::create_snapshot(&[script("var x")], None, &ivm::SnapshotOptions::new());
    assert!(matches!(none, Err(Error::InvalidArgument(message)) if message.contains("worker")));
    let absent = ivm::SnapshotOptions::new().worker(SnapshotWorker::new("/nonexistent/ivm-worker"));
    assert!(matches!(ivm::create_snapshot(&[script("var x")], None, &absent), Err(Error::InvalidArgument(_))));
    // A process that is no worker: it answers nothing.
    let wrong = ivm::SnapshotOptions::new().worker(SnapshotWorker::new(env!("CARGO_BIN_EXE_ivm")).arg("help"));
    match ivm::create_snapshot(&[script("var x")], None, &wrong) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("without a snapshot"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_pool_hands_out_fresh_isolates_booted_from_a_snapshot() {
    use ivm::IsolatePool;
    let snapshot =
        create_snapshot(&[script("var seed = 7; function work(n) { return n * seed; }")], None, &options()).unwrap();
    let pool = IsolatePool::new(IsolateOptions::new().snapshot(snapshot).memory_limit(32), 2).unwrap();
    assert_eq!(pool.size(), 2);
    {
        let first = pool.checkout().unwrap();
        assert_eq!(first.context().eval("work(6)", &EvalOptions::new()).unwrap(), Value::Number(42.0));
        // What a request leaves behind does not reach the next one.
        first.context().eval("seed = 1000", &EvalOptions::new()).unwrap();
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let pooled = pool.checkout().unwrap();
                    assert_eq!(pooled.context().eval("work(6)", &EvalOptions::new()).unwrap(), Value::Number(42.0));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // The pool refills itself behind the checkouts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.ready() < 2 {
        assert!(Instant::now() < deadline, "the pool did not refill");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(IsolatePool::new(IsolateOptions::new(), 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        IsolatePool::new(IsolateOptions::new().snapshot(vec![0u8; 4]), 1),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_failing_snapshot_script_says_where_it_threw() {
    let thrown = create_snapshot(
        &[SnapshotScript::new(
            "var ok = 1;\nfunction f() { throw new TypeError('x'); }\nf();",
            ScriptOrigin::new("setup.js"),
        )],
        None,
        &options(),
    );
    match thrown {
        Err(Error::Js(error)) => {
            let stack = error.stack.expect("a stack");
            assert!(stack.starts_with("TypeError: x") && stack.contains("setup.js:2"), "{stack}");
        }
        other => panic!("expected the script's error, got {other:?}"),
    }
}

#[test]
fn async_checkouts_wait_their_turn_for_a_boot() {
    use ivm::IsolatePool;
    let pool = IsolatePool::new(IsolateOptions::new(), 1).unwrap();
    let held = pool.checkout().unwrap();
    // None is ready: these wait for the pool's thread to boot more.
    let waiting: Vec<_> = (0..3).map(|_| pool.checkout_async()).collect();
    for (i, pending) in waiting.into_iter().enumerate() {
        let pooled = futures_executor::block_on(pending).unwrap();
        let code = format!("{i} * 2");
        assert_eq!(pooled.context().eval(&code, &EvalOptions::new()).unwrap(), Value::Number(f64::from(i as u32 * 2)));
    }
    drop(held);
    // A ready one is handed over at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.ready() < 1 {
        assert!(Instant::now() < deadline, "the pool did not refill");
        std::thread::sleep(Duration::from_millis(5));
    }
    let quick = futures_executor::block_on(pool.checkout_async()).unwrap();
    assert_eq!(quick.context().eval("1", &EvalOptions::new()).unwrap(), Value::Number(1.0));
}
