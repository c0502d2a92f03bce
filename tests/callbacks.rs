//! Host functions called from JavaScript: synchronous, promise-returning and
//! blocking (isolated-vm's applySyncPromise), their errors, and timeouts
//! while one waits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use ivm::{Callback, Error, EvalOptions, Resolver, Structured, Transferable, Value};
use ivm_tests::{eval, isolate_and_context};

fn number(copy: &Structured) -> f64 {
    copy.as_primitive().and_then(Value::as_f64).expect("a number")
}

#[test]
fn javascript_calls_a_host_function_with_copies_and_gets_its_result() {
    let (_isolate, context) = isolate_and_context();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let add = Callback::new(move |arguments| {
        recorded.lock().unwrap().push(arguments.len());
        Ok(Value::Number(arguments.iter().map(number).sum()).into())
    });
    let result = context.eval_closure("return $0(1, 2, 3) + $0(4)", &[add.into()], &EvalOptions::new()).unwrap();
    assert_eq!(result, Value::Number(10.0));
    assert_eq!(*seen.lock().unwrap(), [3, 1]);

    let describe = Callback::new(|arguments| {
        let graph = &arguments[0];
        Ok(Value::from(format!("{} objects", graph.objects().len())).into())
    });
    let described =
        context.eval_closure("return $0({ list: [1, 2], when: new Date() })", &[describe.into()], &EvalOptions::new());
    assert_eq!(described.unwrap(), Value::from("3 objects"));
}

#[test]
fn host_errors_and_panics_are_thrown_in_javascript() {
    let (_isolate, context) = isolate_and_context();
    let failing = Callback::new(|_| Err("no such file".into()));
    let caught = context
        .eval_closure(
            "try { $0(); } catch (e) { return e instanceof Error && e.message }",
            &[failing.into()],
            &EvalOptions::new(),
        )
        .unwrap();
    assert_eq!(caught, Value::from("no such file"));
    let panicking = Callback::new(|_| panic!("host bug"));
    let caught = context
        .eval_closure("try { $0(); } catch (e) { return e.message }", &[panicking.into()], &EvalOptions::new())
        .unwrap();
    assert_eq!(caught, Value::from("the host function panicked"));
    let uncloneable = Callback::new(|_| Ok(Value::Null.into()));
    let refused = context
        .eval_closure("try { $0(() => 1); } catch (e) { return e.message }", &[uncloneable.into()], &EvalOptions::new())
        .unwrap();
    assert!(refused.as_value().and_then(Value::as_str).is_some_and(|m| m.contains("could not be cloned")), "{refused}");
}

/// A host error that carries its own stack arrives with that stack,
/// continued by the isolate's frames where it was thrown (not the frames
/// of ivm's library inside the isolate).
#[test]
fn a_host_error_keeps_its_stack_continued_by_the_isolates_frames() {
    let (_isolate, context) = isolate_and_context();
    let failing = Callback::new(|_| {
        let mut error = ivm::JsError::new("TypeError".to_owned(), "no".to_owned());
        error.stack = Some("TypeError: no\n    at hostFunction (host.js:3:9)".to_owned());
        Err(ivm::HostError::Ivm(Error::Js(error)))
    });
    context.global().unwrap().set("failing", failing, &Default::default()).unwrap();
    let stack = context
        .eval(
            "function isolateFunction() { failing() }\n\
             try { isolateFunction() } catch (e) { [e instanceof TypeError, e.stack].join('|') }",
            &EvalOptions::new().origin(ivm::ScriptOrigin::new("iso.js")),
        )
        .unwrap();
    let stack = stack.as_value().and_then(Value::as_str).unwrap_or_default().to_owned();
    let expected = format!(
        "true|TypeError: no\n    at hostFunction (host.js:3:9)\n{}\n    at isolateFunction (iso.js:1:30)\n",
        ivm_core::embedding::STACK_BOUNDARY
    );
    assert!(stack.starts_with(&expected), "{stack}");
    assert!(!stack.contains("<ivm library>"), "{stack}");
}

#[test]
fn a_host_function_may_call_back_into_its_isolate_but_not_into_another() {
    let (_isolate, context) = isolate_and_context();
    let (_other, other_context) = isolate_and_context();
    eval(&context, "globalThis.base = 40");
    let inner = context.clone();
    let reenter = Callback::new(move |arguments| {
        let n = number(&arguments[0]);
        inner.eval(&format!("base + {n}"), &EvalOptions::new()).map_err(|e| e.to_string().into())
    });
    let result = context.eval_closure("base = 41; return $0(1) + $0(2)", &[reenter.into()], &EvalOptions::new());
    assert_eq!(result.unwrap(), Value::Number(85.0), "the nested calls see the outer call's state");

    let elsewhere = other_context.clone();
    let cross = Callback::new(move |_| match elsewhere.eval("1", &EvalOptions::new()) {
        Err(Error::NestedCall) => Ok(Value::from("refused").into()),
        other => Err(format!("{other:?}").into()),
    });
    let refused = context.eval_closure("return $0()", &[cross.into()], &EvalOptions::new());
    assert_eq!(refused.unwrap(), Value::from("refused"), "waiting on another isolate could deadlock");

    // A nested call's own timeout ends only the nested call.
    let inner = context.clone();
    let spin = Callback::new(move |_| {
        match inner.eval("for (;;) {}", &EvalOptions::new().timeout(Duration::from_millis(20))) {
            Err(Error::Timeout) => Ok(Value::from("inner timed out").into()),
            other => Err(format!("{other:?}").into()),
        }
    });
    let result = context.eval_closure("return $0() + ', outer went on'", &[spin.into()], &EvalOptions::new());
    assert_eq!(result.unwrap(), Value::from("inner timed out, outer went on"));

    // The outer call's timeout still ends the outer call through nested ones.
    let inner = context.clone();
    let nested_spin =
        Callback::new(move |_| inner.eval("for (;;) {}", &EvalOptions::new()).map_err(|e| e.to_string().into()));
    let outer = context.eval_closure(
        "$0(); return 'unreachable'",
        &[nested_spin.into()],
        &EvalOptions::new().timeout(Duration::from_millis(50)),
    );
    assert!(matches!(outer, Err(Error::Timeout)), "{outer:?}");
    assert_eq!(eval(&context, "base"), Value::Number(41.0), "the isolate stays usable");
}

#[test]
fn an_async_host_function_settles_its_promise_from_another_thread() {
    let (_isolate, context) = isolate_and_context();
    let fetch = Callback::new_async(|arguments, resolver: Resolver| {
        let n = number(&arguments[0]);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            if n < 0.0 { resolver.reject("negative") } else { resolver.resolve(Value::Number(n * 2.0)) }
        });
    });
    context
        .eval_closure(
            "globalThis.results = []; $0(21).then(v => results.push(v)); $0(-1).catch(e => results.push(e.message)); return 0",
            &[fetch.into()],
            &EvalOptions::new(),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while eval(&context, "results.length") != Value::Number(2.0) {
        assert!(Instant::now() < deadline, "the promises never settled");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(eval(&context, "results.sort().join()"), Value::from("42,negative"));
}

#[test]
fn a_blocking_host_function_returns_what_another_thread_settles() {
    let (_isolate, context) = isolate_and_context();
    let read = Callback::new_blocking(|_, resolver| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            resolver.resolve(Value::from("contents"));
        });
    });
    let pending = context.eval_closure_async("return $0() + '!'", vec![read.clone().into()], EvalOptions::new());
    assert_eq!(block_on(pending).unwrap(), Value::from("contents!"));

    let dropped = Callback::new_blocking(|_, resolver| drop(resolver));
    let caught = context
        .eval_closure("try { $0(); } catch (e) { return e.message }", &[dropped.into()], &EvalOptions::new())
        .unwrap();
    assert!(caught.as_value().and_then(Value::as_str).is_some_and(|m| m.contains("without settling")), "{caught}");
}

#[test]
fn a_timeout_ends_a_call_waiting_on_a_blocking_host_function() {
    let (_isolate, context) = isolate_and_context();
    let kept: Arc<Mutex<Vec<Resolver>>> = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&kept);
    let never = Callback::new_blocking(move |_, resolver| keep.lock().unwrap().push(resolver));
    let started = Instant::now();
    let result = context.eval_closure(
        "return $0()",
        &[Transferable::from(never)],
        &EvalOptions::new().timeout(Duration::from_millis(50)),
    );
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(eval(&context, "'still usable'"), Value::from("still usable"));
}

#[test]
fn a_timeout_that_pauses_in_host_code_counts_only_the_isolates_running() {
    let (_isolate, context) = isolate_and_context();
    let slow = Callback::new(|_| {
        std::thread::sleep(Duration::from_millis(150));
        Ok(Value::from("done").into())
    });
    let paused = EvalOptions::new().timeout(Duration::from_millis(50)).pause_timeout_in_host(true);
    let waited = context.eval_closure(
        "$0(); $0(); let n = 0; for (let i = 0; i < 1000; i++) n += i; return n",
        &[slow.clone().into()],
        &paused,
    );
    assert_eq!(waited.unwrap(), Value::Number(499500.0));
    // The clock goes on after the host function returns: code that runs
    // away then is still stopped.
    let runaway = context.eval_closure("$0(); for (;;) {}", &[slow.clone().into()], &paused);
    assert!(matches!(runaway, Err(Error::Timeout)), "{runaway:?}");
    // Without the option the host's time counts: the loop after the host
    // function is where the termination lands.
    let counted = context.eval_closure(
        "$0(); let n = 0; for (let i = 0; i < 1000; i++) n += i; return n",
        &[slow.into()],
        &EvalOptions::new().timeout(Duration::from_millis(50)),
    );
    assert!(matches!(counted, Err(Error::Timeout)), "{counted:?}");
    assert_eq!(eval(&context, "'usable'"), Value::from("usable"));
}

/// A host function that answers after `delay`, from another thread.
fn later(delay: Duration) -> Callback {
    Callback::new_async(move |arguments, resolver| {
        let value = arguments.into_iter().next().and_then(|a| a.as_primitive().cloned()).unwrap_or(Value::Null);
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            match value {
                Value::String(message) => resolver.reject(message.to_string_lossy().into_owned()),
                other => resolver.resolve(other),
            }
        });
    })
}

#[test]
fn an_async_call_follows_its_promise_through_host_waits() {
    let (_isolate, context) = isolate_and_context();
    let options = EvalOptions::new().promise(true).timeout(Duration::from_secs(5));
    let pending = context.eval_closure_async(
        "return (async () => { const a = await $0(20); const b = await $0(22); return a + b; })()",
        vec![later(Duration::from_millis(10)).into()],
        options.clone(),
    );
    assert_eq!(block_on(pending).unwrap(), Value::Number(42.0));

    let rejected = context.eval_closure_async(
        "return (async () => await $0('refused'))()",
        vec![later(Duration::from_millis(10)).into()],
        options,
    );
    match block_on(rejected) {
        Err(Error::Js(error)) => assert_eq!(error.message, "refused"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_timeout_of_a_followed_call_covers_host_waits_and_what_follows_them() {
    let (isolate, context) = isolate_and_context();
    let options = EvalOptions::new().promise(true).timeout(Duration::from_millis(100));
    let never = Callback::new_async(|_, resolver| std::mem::forget(resolver));
    let started = Instant::now();
    let waiting = context.eval_closure_async("return $0()", vec![never.into()], options.clone());
    assert!(matches!(block_on(waiting), Err(Error::Timeout)));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(90) && waited < Duration::from_secs(2), "{waited:?}");

    // Code that runs away after the host answers is stopped by what is left
    // of the deadline, and the isolate stays usable.
    let runaway = context.eval_closure_async(
        "return (async () => { await $0(1); for (;;) {} })()",
        vec![later(Duration::from_millis(10)).into()],
        options,
    );
    assert!(matches!(block_on(runaway), Err(Error::Timeout)));
    assert_eq!(eval(&context, "'usable'"), Value::from("usable"));

    let disposed = context.eval_closure_async(
        "return $0()",
        vec![Callback::new_async(|_, resolver| std::mem::forget(resolver)).into()],
        EvalOptions::new().promise(true),
    );
    std::thread::sleep(Duration::from_millis(20));
    isolate.dispose().unwrap();
    assert!(matches!(block_on(disposed), Err(Error::Disposed)));
}

#[test]
fn a_cpu_budget_counts_work_not_waiting_and_covers_awaited_promises() {
    let (_isolate, context) = isolate_and_context();
    let budget = EvalOptions::new().cpu_limit(Duration::from_millis(50));
    let started = Instant::now();
    let spin = context.eval("for (;;) {}", &budget);
    assert!(matches!(spin, Err(Error::CpuLimit)), "{spin:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(eval(&context, "'usable'"), Value::from("usable"));

    // Waiting on the host costs no CPU time.
    let slow_host = Callback::new_blocking(|_, resolver| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            resolver.resolve(Value::from("done"));
        });
    });
    let waited = context.eval_closure("return $0()", &[slow_host.into()], &budget);
    assert_eq!(waited.unwrap(), Value::from("done"));

    // Work after an awaited host promise spends from the same budget.
    let runaway = context.eval_closure_async(
        "return (async () => { await $0(1); for (;;) {} })()",
        vec![later(Duration::from_millis(10)).into()],
        budget.promise(true),
    );
    assert!(matches!(block_on(runaway), Err(Error::CpuLimit)));
    assert_eq!(eval(&context, "'still usable'"), Value::from("still usable"));
}

#[test]
fn time_waiting_on_a_blocking_host_function_is_not_the_isolates_cpu_time() {
    let (isolate, context) = isolate_and_context();
    let slow_host = Callback::new_blocking(|_, resolver| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            resolver.resolve(Value::Null);
        });
    });
    // Both ways of counting: at first the isolate's calls are short and
    // counted at wall time less waits; after a long one the clock is read.
    for _ in 0..2 {
        let (cpu, wall) = (isolate.cpu_time(), isolate.wall_time());
        context.eval_closure("return $0()", &[slow_host.clone().into()], &EvalOptions::new()).unwrap();
        let (spent, took) = (isolate.cpu_time() - cpu, isolate.wall_time() - wall);
        assert!(took >= Duration::from_millis(100), "wall {took:?}");
        assert!(spent < Duration::from_millis(50), "cpu {spent:?} counted the wait");
    }
}
