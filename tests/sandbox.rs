//! The core of node:vm's sandboxes: globals copied in before a run and the
//! changes copied out after it.

use std::time::Duration;

use ivm::{
    Callback, Completion, Error, EvalOptions, Isolate, IsolateOptions, Sandbox, SandboxChanges, SandboxValue,
    Transferable, Value,
};

fn sandbox() -> Sandbox {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(32)).unwrap();
    Sandbox::new(isolate.create_context().unwrap()).unwrap()
}

fn value(v: impl Into<Value>) -> SandboxValue {
    SandboxValue::Value(Transferable::from(v.into()))
}

fn set(changes: &SandboxChanges) -> Vec<(String, Value)> {
    changes
        .set
        .iter()
        .map(|(name, value)| (name.clone(), value.as_value().cloned().unwrap_or(Value::Undefined)))
        .collect()
}

#[test]
fn globals_go_in_and_what_code_made_or_changed_comes_out() {
    let sandbox = sandbox();
    let globals = vec![("animal".to_owned(), value("cat")), ("count".to_owned(), value(2.0))];
    let (result, changes) =
        sandbox.run(&globals, "count += 1; var name = 'kitty'; globalThis.made = 0; animal", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::from("cat")));
    let mut out = set(&changes);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    // `animal` is unchanged, and not reported.
    assert_eq!(
        out,
        vec![
            ("count".to_owned(), Value::Number(3.0)),
            ("made".to_owned(), Value::Number(0.0)),
            ("name".to_owned(), Value::from("kitty")),
        ]
    );
    assert!(changes.deleted.is_empty());

    // The host's object now has them all, but drops `count`: it is gone
    // inside. `made` is deleted inside: the host is told.
    let globals =
        vec![("animal".to_owned(), value("cat")), ("name".to_owned(), value("kitty")), ("made".to_owned(), value(0.0))];
    let (result, changes) = sandbox.run(&globals, "delete globalThis.made; typeof count", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::from("undefined")));
    assert_eq!(changes.deleted, vec!["made".to_owned()], "{changes:?}");
}

#[test]
fn host_functions_are_callable_inside_even_within_objects() {
    let sandbox = sandbox();
    let log = Callback::new(|arguments| {
        let first = arguments[0].as_primitive().and_then(Value::as_str).unwrap_or("?").to_owned();
        Ok(Value::from(format!("logged {first}")).into())
    });
    let console = SandboxValue::Object(vec![("log".to_owned(), SandboxValue::Value(log.clone().into()))]);
    let globals = vec![("console".to_owned(), console), ("log".to_owned(), SandboxValue::Value(log.into()))];
    let (result, changes) = sandbox.run(&globals, "console.log('hi') + ' ' + log('there')", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::from("logged hi logged there")));
    // Still the host's own: not reported back, nor deleted.
    assert!(changes.set.is_empty() && changes.deleted.is_empty(), "{changes:?}");
    // Replaced inside, it is.
    let (_, changes) = sandbox.run(&globals, "log = 1", &EvalOptions::new());
    assert_eq!(set(&changes), vec![("log".to_owned(), Value::Number(1.0))]);
}

#[test]
fn what_ran_before_a_throw_or_a_timeout_is_reported_and_the_context_stays_usable() {
    let sandbox = sandbox();
    let (result, changes) = sandbox.run(&[], "var before = 1; throw new TypeError('no')", &EvalOptions::new());
    assert!(matches!(result, Err(Error::Js(ref e)) if e.message == "no"), "{result:?}");
    assert_eq!(set(&changes), vec![("before".to_owned(), Value::Number(1.0))]);

    // The host's object now holds `before`.
    let globals = vec![("before".to_owned(), value(1.0))];
    let options = EvalOptions::new().timeout(Duration::from_millis(50));
    let (result, changes) = sandbox.run(&globals, "var started = true; for (;;) {}", &options);
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(set(&changes).contains(&("started".to_owned(), Value::Bool(true))));
    assert_eq!(Sandbox::timeout_message(Duration::from_millis(50)), "Script execution timed out after 50ms");
    let (result, _) = sandbox.run(&globals, "before + 1", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::Number(2.0)));
}

#[test]
fn a_global_with_no_copy_stays_inside_and_leaves_the_hosts_object() {
    let sandbox = sandbox();
    let (_, changes) = sandbox.run(&[], "var plain = { n: 1 }; var f = () => 7", &EvalOptions::new());
    let names: Vec<_> = changes.set.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, vec!["plain", "f"]);
    assert!(changes.set[1].1.as_reference().is_some(), "a function comes out callable");
    // The host's object holds what came out; `plain` turns into something
    // with no copy: the host drops it, and code inside still has it.
    let mut globals: Vec<_> = changes.set.into_iter().map(|(name, value)| (name, SandboxValue::Value(value))).collect();
    let (_, changes) = sandbox.run(&globals, "plain = { m() { return 5 } }", &EvalOptions::new());
    assert_eq!(changes.deleted, vec!["plain".to_owned()]);
    globals.retain(|(name, _)| name != "plain");
    let (result, _) = sandbox.run(&globals, "plain.m() + f()", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::Number(12.0)));
}

#[test]
fn no_built_in_is_reported_and_hostile_globals_end_in_errors() {
    let sandbox = sandbox();
    let (_, changes) = sandbox.run(&[], "Object.prototype.x = 1; 0", &EvalOptions::new());
    assert!(changes.set.is_empty() && changes.deleted.is_empty(), "{changes:?}");
    // A getter on the global is not run to read it.
    let (_, changes) = sandbox.run(
        &[],
        "Object.defineProperty(globalThis, 'trap', { get() { for (;;) {} }, configurable: true }); 0",
        &EvalOptions::new(),
    );
    assert!(changes.set.is_empty(), "{changes:?}");
    let (result, changes) =
        sandbox.run(&[], "var hog = []; for (;;) hog.push(new Array(1e5).fill(1))", &EvalOptions::new());
    assert!(matches!(result, Err(Error::MemoryLimit)), "{result:?}");
    assert!(changes.set.is_empty());
}

/// The same code run again (node:vm's `runInContext(code, …)` in a loop)
/// runs again with the globals of its own run, and under its own origin.
#[test]
fn the_same_code_runs_again_with_new_globals_and_its_own_origin() {
    let sandbox = sandbox();
    let code = "if (x > 2) throw new Error('big'); x * 10";
    for x in [1.0, 2.0] {
        let (result, _) = sandbox.run(&[("x".to_owned(), value(x))], code, &EvalOptions::new());
        assert_eq!(result.unwrap().as_value(), Some(&Value::Number(x * 10.0)));
    }
    for file in ["first.js", "second.js"] {
        let options = EvalOptions::new().origin(ivm::ScriptOrigin::new(file));
        let (result, _) = sandbox.run(&[("x".to_owned(), value(3.0))], code, &options);
        let Err(Error::Js(error)) = result else { panic!("{result:?}") };
        assert!(error.stack.as_deref().is_some_and(|stack| stack.contains(&format!("at {file}:1:"))), "{error:?}");
    }
}

/// A script that completes with a promise (an async function's call, as
/// node:vm's callers await) gives what the promise came to once the run's
/// own jobs ran; a rejection is the host's to handle, not the run's error.
#[test]
fn a_promise_the_script_completes_with_gives_what_it_came_to() {
    let sandbox = sandbox();
    let code = "(async () => { await null; globalThis.late = 1; return 7 })()";
    let (result, changes) = sandbox.run(&[], code, &EvalOptions::new());
    let Ok(Completion::Fulfilled(value)) = result else { panic!("{result:?}") };
    assert_eq!(value.as_value(), Some(&Value::Number(7.0)));
    assert_eq!(set(&changes), vec![("late".to_owned(), Value::Number(1.0))]);

    let (result, _) = sandbox.run(&[], "Promise.reject(new RangeError('no'))", &EvalOptions::new());
    let Ok(Completion::Rejected(Error::Js(error))) = result else { panic!("{result:?}") };
    assert_eq!((error.name.as_str(), error.message.as_str()), ("RangeError", "no"));

    let (result, _) = sandbox.run(&[], "new Promise(() => {})", &EvalOptions::new());
    let Ok(Completion::Rejected(Error::InvalidArgument(message))) = result else { panic!("{result:?}") };
    assert!(message.contains("still pending"), "{message}");

    let (result, _) = sandbox.run(&[], "1 + 1", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::Number(2.0)));
}

/// Host code that a run calls may ask for the changes (a function of the
/// context's that writes back after each call, called from a callback):
/// it gets none, without waiting on the run, which reports them itself.
#[test]
fn changes_asked_for_during_a_run_are_that_runs_to_report() {
    let sandbox = sandbox();
    let inner = sandbox.clone();
    let asked = Callback::new(move |_| {
        let changes = inner.changes(None)?;
        Ok(Value::Number((changes.set.len() + changes.deleted.len()) as f64).into())
    });
    let globals = vec![("asked".to_owned(), SandboxValue::Value(asked.into()))];
    let (result, changes) = sandbox.run(&globals, "var made = 1; asked()", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::Number(0.0)));
    assert_eq!(set(&changes), vec![("made".to_owned(), Value::Number(1.0))]);
}

/// A host function with properties of its own (a library's namespace
/// function) is made inside as the function, with them.
#[test]
fn a_host_function_with_properties_goes_in_with_them() {
    let sandbox = sandbox();
    let called = Callback::new(|_| Ok(Value::from("called").into()));
    let library = SandboxValue::Function(called.into(), vec![("VERSION".to_owned(), value("1.0"))]);
    let globals = vec![("library".to_owned(), library)];
    let (result, changes) = sandbox.run(&globals, "library() + ' ' + library.VERSION", &EvalOptions::new());
    assert_eq!(result.unwrap().as_value(), Some(&Value::from("called 1.0")));
    assert!(changes.set.is_empty() && changes.deleted.is_empty(), "{changes:?}");
}

/// A function the context made, called from the host: `this` is the
/// context's global, what it changes comes back with its result, and a
/// promise it returns (an async function's) gives what it came to.
#[test]
fn a_function_of_the_context_called_from_the_host_reports_its_changes_and_settles_its_promise() {
    let sandbox = sandbox();
    let code = "var count = 0; \
                function add(n) { count += n; return this === globalThis } \
                async function later(n) { await null; count += n; return count } \
                async function fails() { await null; throw new TypeError('bad ' + count) } \
                function throws() { count = 1; throw new RangeError('no') }";
    let (result, changes) = sandbox.run(&[], code, &EvalOptions::new());
    result.unwrap();
    let function = |name: &str| match changes.set.iter().find(|(set, _)| set == name) {
        Some((_, Transferable::Reference(reference))) => reference.clone(),
        other => panic!("{name}: {other:?}"),
    };

    let (result, changes) = sandbox.call(&function("add"), &[value(5.0)]);
    let Ok(Completion::Value(returned)) = result else { panic!("{result:?}") };
    assert_eq!(returned.as_value(), Some(&Value::Bool(true)));
    assert_eq!(set(&changes), vec![("count".to_owned(), Value::Number(5.0))]);

    let (result, changes) = sandbox.call(&function("later"), &[value(2.0)]);
    let Ok(Completion::Fulfilled(returned)) = result else { panic!("{result:?}") };
    assert_eq!(returned.as_value(), Some(&Value::Number(7.0)));
    assert_eq!(set(&changes), vec![("count".to_owned(), Value::Number(7.0))]);

    let (result, changes) = sandbox.call(&function("fails"), &[]);
    let Ok(Completion::Rejected(Error::Js(error))) = result else { panic!("{result:?}") };
    assert_eq!((error.name.as_str(), error.message.as_str()), ("TypeError", "bad 7"));
    assert!(changes.set.is_empty() && changes.deleted.is_empty(), "{changes:?}");

    // A throw still reports what the call did before it.
    let (result, changes) = sandbox.call(&function("throws"), &[]);
    let Err(Error::Js(error)) = result else { panic!("{result:?}") };
    assert_eq!((error.name.as_str(), error.message.as_str()), ("RangeError", "no"));
    assert_eq!(set(&changes), vec![("count".to_owned(), Value::Number(1.0))]);
}
