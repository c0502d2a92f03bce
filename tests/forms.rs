//! The async and fire-and-forget forms: one order per isolate across all
//! three forms, futures that need no particular executor, many isolates on
//! few threads, and disposal with calls still queued.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_executor::block_on;
use ivm::{
    Callback, CompileOptions, Error, EvalOptions, Executor, Isolate, IsolateOptions, Pending, Reference, RunOptions,
    Transferable, Value,
};
use ivm_tests::{eval, isolate_and_context};

fn reference(t: Transferable) -> Reference {
    t.into_reference().expect("a reference")
}

#[test]
fn calls_of_every_form_run_in_the_order_they_were_made() {
    let (_isolate, context) = isolate_and_context();
    eval(&context, "globalThis.log = []");
    let push = reference(eval(&context, "(x) => log.push(x)"));
    let mut pending: Vec<Pending<Transferable>> = Vec::new();
    for i in 0..40 {
        match i % 5 {
            0 => context.eval_ignored(format!("log.push({i})"), EvalOptions::new()),
            1 => pending.push(context.eval_async(format!("log.push({i})"), EvalOptions::new())),
            2 => drop(context.eval(&format!("log.push({i})"), &EvalOptions::new()).unwrap()),
            3 => push.apply_ignored((), vec![i.into()], RunOptions::new()),
            _ => pending.push(push.apply_async((), vec![i.into()], RunOptions::new())),
        }
    }
    let expected: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(eval(&context, "log.join()"), Value::from(expected.join(",")));
    for result in pending {
        assert!(block_on(result).is_ok());
    }
}

#[test]
fn every_async_form_gives_its_result() {
    let (isolate, context) = isolate_and_context();
    let stats = block_on(isolate.heap_statistics_async()).unwrap();
    assert!(stats.used_heap_size > 0);
    let fresh = block_on(isolate.create_context_async()).unwrap();
    assert_eq!(block_on(fresh.eval_async("typeof log", EvalOptions::new())).unwrap(), Value::from("undefined"));
    let script = block_on(isolate.compile_script_async("6 * 7", CompileOptions::new())).unwrap();
    assert_eq!(block_on(script.run_async(&context, RunOptions::new())).unwrap(), Value::Number(42.0));
    script.run_ignored(&context, RunOptions::new());
    let closure = context.eval_closure_async("return $0 + $1", vec![1.into(), 2.into()], EvalOptions::new());
    assert_eq!(block_on(closure).unwrap(), Value::Number(3.0));
    context.eval_closure_ignored("globalThis.fromClosure = $0", vec!["yes".into()], EvalOptions::new());
    let object = reference(eval(&context, "globalThis.o = { a: 1 }; o"));
    assert_eq!(block_on(object.get_async("a", RunOptions::new())).unwrap(), Value::Number(1.0));
    assert!(block_on(object.set_async("b", 2, RunOptions::new())).unwrap());
    object.set_ignored("c", 3, RunOptions::new());
    assert!(block_on(object.delete_async("a", RunOptions::new())).unwrap());
    object.delete_ignored("b", RunOptions::new());
    let copy = block_on(object.copy_async()).unwrap();
    assert_eq!(copy.objects().len(), 1);
    assert_eq!(eval(&context, "JSON.stringify(o) + fromClosure"), Value::from("{\"c\":3}yes"));
    let thrown = block_on(context.eval_async("throw new RangeError('no')", EvalOptions::new()));
    assert!(matches!(thrown, Err(Error::Js(ref e)) if e.name == "RangeError"), "{thrown:?}");
    let spin = context.eval_async("for (;;) {}", EvalOptions::new().timeout(Duration::from_millis(50)));
    assert!(matches!(block_on(spin), Err(Error::Timeout)));
}

#[test]
fn a_dropped_future_does_not_cancel_its_call() {
    let (_isolate, context) = isolate_and_context();
    drop(context.eval_async("globalThis.ran = true", EvalOptions::new()));
    assert_eq!(eval(&context, "globalThis.ran"), Value::Bool(true), "the synchronous call waited for it");
}

#[test]
fn futures_are_awaited_from_any_thread() {
    let (_isolate, context) = isolate_and_context();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let pending = context.eval_async(format!("{i} * 10"), EvalOptions::new());
            std::thread::spawn(move || block_on(pending).unwrap())
        })
        .collect();
    let results: Vec<Transferable> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results, [0.0, 10.0, 20.0, 30.0].map(Value::Number));
}

#[test]
fn a_thousand_isolates_run_on_a_fixed_pool() {
    let executor = Executor::new(2);
    let options = IsolateOptions::new().memory_limit(16).executor(executor.clone());
    // Each isolate reports the thread it runs on through a host function.
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&threads);
    let report = Callback::new(move |_| {
        seen.lock().unwrap().insert(std::thread::current().id());
        Ok(Value::Undefined.into())
    });
    let contexts: Vec<_> = (0..1000)
        .map(|_| {
            let isolate = Isolate::new(options.clone()).unwrap();
            isolate.create_context().unwrap()
        })
        .collect();
    let pending: Vec<_> = contexts
        .iter()
        .enumerate()
        .map(|(i, context)| {
            let code = format!("$0(); let s = 0; for (let k = 0; k <= {i}; k++) s += k; return s");
            context.eval_closure_async(code, vec![report.clone().into()], EvalOptions::new())
        })
        .collect();
    for (i, result) in pending.into_iter().enumerate() {
        assert_eq!(block_on(result).unwrap(), Value::Number((i * (i + 1) / 2) as f64));
    }
    assert_eq!(executor.workers(), 2);
    let used = threads.lock().unwrap().len();
    assert!((1..=2).contains(&used), "1000 isolates ran on {used} threads, not the pool's 2");
    for context in contexts {
        context.isolate().dispose().unwrap();
    }
}

#[test]
fn disposing_an_isolate_settles_every_queued_call() {
    let (isolate, context) = isolate_and_context();
    let pending: Vec<_> = (0..20)
        .map(|_| context.eval_async("let n = 0; for (let i = 0; i < 1e6; i++) n += i; n", EvalOptions::new()))
        .collect();
    isolate.dispose().unwrap();
    for result in pending {
        match block_on(result) {
            Ok(value) => assert_eq!(value, Value::Number(499999500000.0)),
            Err(Error::Disposed | Error::DisposedDuringExecution) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert!(matches!(block_on(context.eval_async("1", EvalOptions::new())), Err(Error::Disposed)));
}

#[test]
fn a_context_the_isolate_took_up_is_made_even_if_a_dispose_overtakes_it() {
    // Nothing ahead of it: the isolate has taken it up, and it resolves
    // (isolated-vm's behaviour), to a context every use of which fails.
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let pending = isolate.create_context_async();
    isolate.dispose().unwrap();
    let context = block_on(pending).unwrap();
    assert!(matches!(context.eval("1", &EvalOptions::new()), Err(Error::Disposed)));
    assert!(matches!(context.global(), Err(Error::Disposed)));

    // Queued behind a running call, it is refused with the rest.
    let (isolate, context) = isolate_and_context();
    let running = context.eval_async("const t = Date.now(); while (Date.now() - t < 300);", EvalOptions::new());
    let queued = isolate.create_context_async();
    std::thread::sleep(Duration::from_millis(50));
    isolate.dispose().unwrap();
    assert!(matches!(block_on(running), Err(Error::Disposed | Error::DisposedDuringExecution)));
    assert!(matches!(block_on(queued), Err(Error::Disposed)));
}

/// xorshift: a fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn stress_many_isolates_queued_calls_dropped_futures_and_disposal_mid_flight() {
    let executor = Executor::new(2);
    let options = IsolateOptions::new().memory_limit(16).executor(executor);
    let contexts: Vec<_> = (0..16).map(|_| Isolate::new(options.clone()).unwrap().create_context().unwrap()).collect();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut kept = Vec::new();
    let hosts: Vec<_> = (0..4)
        .map(|_| {
            let calls: Vec<_> = (0..300).map(|_| rng.below(u64::MAX)).collect();
            let contexts = contexts.clone();
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                for call in calls {
                    let context = &contexts[(call % 16) as usize];
                    match (call >> 8) % 6 {
                        0 => context.eval_ignored("globalThis.n = (globalThis.n || 0) + 1", EvalOptions::new()),
                        1 => drop(context.eval_async("for (let i = 0; i < 1e4; i++);", EvalOptions::new())),
                        2 => pending.push(context.eval_async("[1, 2, 3].map(x => x * 2)", EvalOptions::new())),
                        3 => drop(context.eval("globalThis.n", &EvalOptions::new())),
                        4 => pending.push(
                            context.eval_async("for (;;) {}", EvalOptions::new().timeout(Duration::from_millis(1))),
                        ),
                        _ => {
                            if call % 97 == 0 {
                                let _ = context.isolate().dispose();
                            }
                        }
                    }
                }
                pending
            })
        })
        .collect();
    for host in hosts {
        kept.extend(host.join().unwrap());
    }
    // Every kept future settles, with a value or an ordinary error.
    for result in kept {
        match block_on(result) {
            Ok(_) | Err(Error::Timeout | Error::Disposed | Error::DisposedDuringExecution) => {}
            Err(other) => panic!("{other}"),
        }
    }
    // Every isolate that is left still answers, in order.
    for context in &contexts {
        match context.eval("1 + 1", &EvalOptions::new()) {
            Ok(value) => assert_eq!(value, Value::Number(2.0)),
            Err(error) => assert!(matches!(error, Error::Disposed), "{error}"),
        }
    }
}

#[test]
fn on_ready_hands_each_result_on_once_from_the_thread_that_finishes_it() {
    let (isolate, context) = isolate_and_context();
    let (sender, receiver) = std::sync::mpsc::channel();
    for i in 0..20 {
        let sender = sender.clone();
        context.eval_async(format!("{i} * 2"), EvalOptions::new()).on_ready(move |result| {
            sender.send((i, result.map(|value| value.into_value()))).unwrap();
        });
    }
    let failing = sender.clone();
    context.eval_async("throw new Error('no')", EvalOptions::new()).on_ready(move |result| {
        failing.send((-1, result.map(|value| value.into_value()))).unwrap();
    });
    drop(sender);
    let mut results: Vec<_> = receiver.iter().collect();
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), 21, "every callback ran exactly once");
    assert!(matches!(&results[0], (-1, Err(Error::Js(e))) if e.message == "no"));
    for (i, result) in &results[1..] {
        assert_eq!(result, &Ok(Some(ivm::Value::Number(f64::from(*i) * 2.0))));
    }
    drop(isolate);
}

#[test]
fn a_canceled_call_that_has_not_started_never_runs() {
    let (_isolate, context) = isolate_and_context();
    eval(&context, "globalThis.ran = []");
    let busy = context.eval_async("const end = Date.now() + 100; while (Date.now() < end) {}", EvalOptions::new());
    let queued = context.eval_async("ran.push('queued')", EvalOptions::new());
    queued.canceler().cancel();
    assert!(matches!(block_on(queued), Err(Error::Canceled)));
    assert!(block_on(busy).is_ok());
    assert_eq!(eval(&context, "ran.length"), Value::Number(0.0));
}

#[test]
fn canceling_a_running_call_stops_its_javascript_and_leaves_the_isolate_usable() {
    let (_isolate, context) = isolate_and_context();
    let (started, has_started) = std::sync::mpsc::channel();
    let started = Mutex::new(started);
    let signal = Callback::new(move |_| {
        started.lock().unwrap().send(()).unwrap();
        Ok(Value::Undefined.into())
    });
    let spinning = context.eval_closure_async("$0(); while (true) {}", vec![signal.into()], EvalOptions::new());
    let canceler = spinning.canceler();
    has_started.recv().unwrap();
    canceler.cancel();
    assert!(matches!(block_on(spinning), Err(Error::Canceled)));
    assert_eq!(eval(&context, "1 + 2"), Value::Number(3.0));
    // Canceling again, or after the end, changes nothing.
    canceler.cancel();
    let done = context.eval_async("'done'", EvalOptions::new());
    let late = done.canceler();
    assert_eq!(block_on(done).unwrap(), Value::from("done"));
    late.cancel();
    assert_eq!(eval(&context, "'still fine'"), Value::from("still fine"));
}

#[test]
fn canceling_a_call_waiting_for_its_promise_ends_the_wait() {
    let (_isolate, context) = isolate_and_context();
    let never = context.eval_async("new Promise(() => {})", EvalOptions::new().promise(true));
    let canceler = never.canceler();
    std::thread::sleep(Duration::from_millis(20));
    canceler.cancel();
    assert!(matches!(block_on(never), Err(Error::Canceled)));
    assert_eq!(eval(&context, "6 * 7"), Value::Number(42.0));
}

#[test]
fn on_waiting_tells_when_a_call_waits_on_nothing_but_the_host() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_isolate, context) = isolate_and_context();
    let waits = |pending: &Pending<Transferable>| {
        let flag = Arc::new(AtomicBool::new(false));
        let set = Arc::clone(&flag);
        pending.on_waiting(move || set.store(true, Ordering::SeqCst));
        flag
    };
    // A call that does not wait for a promise is never told.
    let plain = context.eval_async("1", EvalOptions::new().promise(true));
    let plain_waited = waits(&plain);
    block_on(plain).unwrap();
    assert!(!plain_waited.load(Ordering::SeqCst));

    // While the host owes the isolate an async callback's result, the call
    // is not waiting on nothing; once that has settled and the promise is
    // still pending, it is.
    let (resolvers, held) = std::sync::mpsc::channel();
    let resolvers = Mutex::new(resolvers);
    let later = Callback::new_async(move |_, resolver| resolvers.lock().unwrap().send(resolver).unwrap());
    let chained = context.eval_closure_async(
        "return $0().then(() => new Promise(() => {}))",
        vec![later.into()],
        EvalOptions::new().promise(true),
    );
    let chained_waited = waits(&chained);
    let resolver = held.recv().unwrap();
    assert_eq!(eval(&context, "'the isolate is idle'"), Value::from("the isolate is idle"));
    assert!(!chained_waited.load(Ordering::SeqCst), "the callback's result is still owed");
    resolver.resolve(Value::Undefined);
    assert_eq!(eval(&context, "'the settling ran'"), Value::from("the settling ran"));
    assert!(chained_waited.load(Ordering::SeqCst));
    chained.canceler().cancel();
    assert!(matches!(block_on(chained), Err(Error::Canceled)));
}
