//! Ways a host once hung, each of which must now end in an error (or a
//! result) within seconds: contexts made past the memory limit, a
//! synchronous call from inside an isolate on that same isolate, disposal
//! while a call waits on the disposing thread, two isolates disposing each
//! other from inside their calls, and a huge source handed to `eval`.
//!
//! Each test runs its body on a thread of its own and fails if that does not
//! finish in time, so that a regression fails instead of hanging the suite.

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ivm::{
    Callback, Context, Error, EvalOptions, Isolate, IsolateOptions, Library, Remote, RunOptions, Transferable, Value,
};
use ivm_tests::eval;

/// Runs `body` on a thread of its own; panics if it takes longer than
/// `limit` (the thread is left behind: the test has failed anyway).
fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)));
    });
    match receiver.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("still running after {limit:?}: it hangs"),
    }
}

fn remote(value: impl Remote) -> Transferable {
    Transferable::Remote(Arc::new(value))
}

/// Makes contexts with `create` in a 32 MB isolate, keeping them alive as
/// a host that holds on to them would, until it fails: with the memory
/// limit, and the isolate disposed.
fn contexts_until_the_limit(create: impl Fn(&Isolate) -> ivm::Result<Context> + Send + 'static) {
    within(Duration::from_secs(60), move || {
        let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
        let mut contexts = Vec::new();
        let error = loop {
            match create(&isolate) {
                Ok(context) => contexts.push(context),
                Err(error) => break error,
            }
            assert!(contexts.len() < 20_000, "20,000 contexts fit in 32 MB");
        };
        assert!(matches!(error, Error::MemoryLimit), "{error:?}");
        assert!(isolate.is_disposed());
        assert!(matches!(isolate.create_context(), Err(Error::Disposed)));
    });
}

#[test]
fn contexts_made_past_the_memory_limit_end_in_the_memory_limit_error() {
    contexts_until_the_limit(Isolate::create_context);
}

#[test]
fn contexts_made_asynchronously_past_the_memory_limit_end_in_the_memory_limit_error() {
    contexts_until_the_limit(|isolate| futures_executor::block_on(isolate.create_context_async()));
}

#[test]
fn contexts_made_from_inside_past_the_memory_limit_end_in_the_memory_limit_error() {
    within(Duration::from_secs(60), || {
        let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
        let context = isolate.create_context().unwrap();
        let global = context.global().unwrap();
        global.set("isolate", remote(isolate.clone()), &RunOptions::new()).unwrap();
        let made =
            context.eval("const kept = []; for (;;) kept.push(isolate.createContextSync());", &EvalOptions::new());
        assert!(matches!(made, Err(Error::MemoryLimit)), "{made:?}");
        assert!(isolate.is_disposed());
    });
}

#[test]
fn a_synchronous_call_from_inside_an_isolate_on_itself_runs() {
    within(Duration::from_secs(20), || {
        let isolate = Isolate::new(IsolateOptions::new()).unwrap();
        let context = isolate.create_context().unwrap();
        let global = context.global().unwrap();
        global.set("ivm", remote(Library), &RunOptions::new()).unwrap();
        global.set("isolate", remote(isolate.clone()), &RunOptions::new()).unwrap();
        global.set("context", remote(context.clone()), &RunOptions::new()).unwrap();
        let timeout = EvalOptions::new().timeout(Duration::from_secs(5));
        let run = context.eval("isolate.compileScriptSync('6 * 7').runSync(context)", &timeout).unwrap();
        assert_eq!(run, Value::Number(42.0));
        let nested = context.eval("globalThis.x = 1; context.evalSync('x + 1')", &timeout).unwrap();
        assert_eq!(nested, Value::Number(2.0));
        let other = context.eval("isolate.createContextSync().evalSync('typeof x')", &timeout).unwrap();
        assert_eq!(other, Value::from("undefined"));
        // The async form is still queued behind the running call.
        let queued = context.eval_async("isolate.compileScript('1').then(() => 'later')", timeout.promise(true));
        assert_eq!(futures_executor::block_on(queued).unwrap(), Value::from("later"));
    });
}

#[test]
fn disposing_while_a_call_waits_on_the_disposing_thread_ends_the_call() {
    within(Duration::from_secs(20), || {
        let isolate = Isolate::new(IsolateOptions::new()).unwrap();
        let context = isolate.create_context().unwrap();
        // The host's thread: it gets the callback's call, disposes the
        // isolate, and only then answers it, as a Node callback posted to
        // Node's thread that disposes does.
        let (calls, host) = mpsc::channel::<mpsc::SyncSender<()>>();
        let disposed = isolate.clone();
        let host_thread = std::thread::spawn(move || {
            let answer = host.recv().unwrap();
            disposed.dispose().unwrap();
            answer.send(()).unwrap();
        });
        let callback = Callback::new(move |_| {
            let (answer, answered) = mpsc::sync_channel(1);
            calls.send(answer).map_err(|e| e.to_string())?;
            answered.recv().map_err(|e| e.to_string())?;
            Ok(Value::Number(1.0).into())
        });
        context.global().unwrap().set("hostCall", callback, &RunOptions::new()).unwrap();
        let outcome = futures_executor::block_on(context.eval_async("hostCall(); for (;;) {}", EvalOptions::new()));
        assert!(matches!(outcome, Err(Error::DisposedDuringExecution)), "{outcome:?}");
        host_thread.join().unwrap();
        assert!(isolate.is_disposed());
    });
}

#[test]
fn two_isolates_disposing_each_other_from_inside_their_calls_both_end() {
    within(Duration::from_secs(20), || {
        let a = Isolate::new(IsolateOptions::new()).unwrap();
        let b = Isolate::new(IsolateOptions::new()).unwrap();
        let both_inside = Arc::new(Barrier::new(2));
        let contexts = [(&a, &b), (&b, &a)].map(|(own, other)| {
            let context = own.create_context().unwrap();
            let (other, barrier) = (other.clone(), Arc::clone(&both_inside));
            let dispose_other = Callback::new(move |_| {
                barrier.wait();
                let _ = other.dispose();
                Ok(Value::Undefined.into())
            });
            context.global().unwrap().set("disposeOther", dispose_other, &RunOptions::new()).unwrap();
            context
        });
        let calls = contexts.map(|context| context.eval_async("disposeOther(); for (;;) {}", EvalOptions::new()));
        for call in calls {
            let outcome = futures_executor::block_on(call);
            assert!(matches!(outcome, Err(Error::DisposedDuringExecution)), "{outcome:?}");
        }
        assert!(a.is_disposed() && b.is_disposed());
    });
}

#[test]
fn a_huge_source_is_refused_to_eval_and_new_function() {
    within(Duration::from_secs(30), || {
        let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
        let context = isolate.create_context().unwrap();
        // isolated-vm's cap: a source longer than an eighth of the memory
        // limit (4 Mi characters here) is not compiled.
        let timeout = EvalOptions::new().timeout(Duration::from_secs(1));
        for code in ["eval(' '.repeat(5 << 20) + '1')", "new Function(' '.repeat(5 << 20) + 'return 1')"] {
            match context.eval(code, &timeout) {
                Err(Error::Js(error)) => {
                    assert_eq!(error.name, "EvalError");
                    assert_eq!(error.message, "Code generation from strings disallowed for this context");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        assert_eq!(eval(&context, "eval(' '.repeat(3 << 20) + '1')"), Value::Number(1.0));
        assert_eq!(eval(&context, "new Function('return 2')()"), Value::Number(2.0));
        // The context's own refusal still holds for short sources.
        let closed =
            isolate.create_context_with(&ivm::ContextOptions::new().code_generation_from_strings(false)).unwrap();
        assert!(matches!(closed.eval("eval('1')", &EvalOptions::new()), Err(Error::Js(_))));
    });
}

/// Issue 22: V8 builtins that loop without checking for termination, and
/// errors whose properties loop as they are read
/// (`tests/conformance/hang-vectors.json`, which Node and Python run too),
/// each end with their error within the timeout plus a second, in the
/// synchronous and the async form; other isolates go on.
#[test]
fn builtins_and_errors_that_ignore_termination_end_within_their_timeout() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/hang-vectors.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let timeout = Duration::from_secs(1);
    for vector in doc["vectors"].as_array().unwrap() {
        let (name, code, ends) = (
            vector["name"].as_str().unwrap(),
            vector["code"].as_str().unwrap().to_owned(),
            vector["ends"].as_str().unwrap(),
        );
        for form in ["sync", "async"] {
            let code = code.clone();
            let (elapsed, outcome) = within(timeout + Duration::from_secs(5), move || {
                let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
                let context = isolate.create_context().unwrap();
                let options = EvalOptions::new().timeout(timeout);
                let started = std::time::Instant::now();
                let result = if form == "sync" {
                    context.eval(&code, &options)
                } else {
                    futures_executor::block_on(context.eval_async(&code, options))
                };
                (started.elapsed(), result.map_err(|error| error.class_name().to_owned()))
            });
            assert_eq!(outcome.err().as_deref(), Some(ends), "{name} ({form})");
            assert!(elapsed <= timeout + Duration::from_secs(1), "{name} ({form}): ended after {elapsed:?}");
        }
    }
    let (_isolate, context) = ivm_tests::isolate_and_context();
    assert_eq!(eval(&context, "6 * 7"), Value::Number(42.0), "the process goes on");
}
