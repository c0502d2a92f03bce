//! References from inside an isolate to values elsewhere: host objects
//! through the `Remote` trait, and References into other isolates, as
//! isolated-vm's `Reference` class inside the isolate.

use std::sync::{Arc, Mutex};
use std::thread;

use futures_executor::block_on;
use ivm::{
    CallbackResult, Error, EvalOptions, Executor, Remote, RemoteOp, Resolver, Structured, TransferMode, Transferable,
    Value,
};
use ivm_tests::{eval, isolate_and_context};

/// A host object: a counter with a log of the operations it was asked for.
#[derive(Debug, Default)]
struct Counter {
    log: Mutex<Vec<String>>,
}

impl Counter {
    fn run(&self, op: RemoteOp) -> CallbackResult {
        let result = match &op {
            RemoteOp::Get { key, .. } => Value::from(format!("value of {}", key.as_str().unwrap_or("?"))).into(),
            RemoteOp::Apply { arguments, .. } => {
                let sum: f64 = arguments.iter().filter_map(|a| a.as_value().and_then(Value::as_f64)).sum();
                Value::Number(sum).into()
            }
            RemoteOp::Set { .. } | RemoteOp::Delete { .. } => Value::Bool(true).into(),
            RemoteOp::Copy { .. } => Value::from("a copy").into(),
            _ => return Err("unexpected operation".into()),
        };
        self.log.lock().unwrap().push(format!("{op:?}").split_whitespace().next().unwrap_or("").to_owned());
        Ok(result)
    }
}

impl Remote for Counter {
    fn type_of(&self) -> String {
        "function".into()
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        self.run(op)
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let result = self.run(op);
        // Settled later, from another thread, as a host event loop would.
        thread::spawn(move || match result {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        });
    }
}

fn remote(counter: &Arc<Counter>) -> Transferable {
    Transferable::Remote(Arc::clone(counter) as Arc<dyn Remote>)
}

#[test]
fn a_host_object_is_a_reference_inside_the_isolate() {
    let (_isolate, context) = isolate_and_context();
    let counter = Arc::new(Counter::default());
    context.global().unwrap().set("host", remote(&counter), &Default::default()).unwrap();
    assert_eq!(eval(&context, "host.typeof"), Value::from("function"));
    assert_eq!(eval(&context, "host.applySync(undefined, [1, 2, 3])"), Value::Number(6.0));
    assert_eq!(eval(&context, "host.getSync('x')"), Value::from("value of x"));
    assert_eq!(eval(&context, "host.setSync('x', { any: 'copy' })"), Value::Bool(true));
    assert_eq!(eval(&context, "host.copySync()"), Value::from("a copy"));
    let promised = context.eval_async("host.apply(undefined, [20, 22])", EvalOptions::new().promise(true));
    assert_eq!(block_on(promised).unwrap(), Value::Number(42.0));
    let blocking = context.eval_async("host.applySyncPromise(undefined, [1, 1])", EvalOptions::new());
    assert_eq!(block_on(blocking).unwrap(), Value::Number(2.0));
    assert_eq!(counter.log.lock().unwrap().len(), 6);
}

#[test]
fn the_reference_class_checks_its_arguments() {
    let (_isolate, context) = isolate_and_context();
    let counter = Arc::new(Counter::default());
    context.global().unwrap().set("host", remote(&counter), &Default::default()).unwrap();
    let bad = |code: &str| match context.eval(code, &EvalOptions::new()) {
        Err(Error::Js(error)) => error.message,
        other => panic!("{code}: {other:?}"),
    };
    assert!(bad("host.applySync(undefined, [() => 1])").contains("could not be cloned"));
    assert!(bad("host.applySync(undefined, 'not a list')").contains("must be an array"));
    assert!(bad("host.getSync('x', { copy: true, reference: true })").contains("Only one"));
    assert!(bad("new (Object.getPrototypeOf(host).constructor)()").contains("requires at least 1 parameter"));
    assert!(bad("Object.getPrototypeOf(host).copySync.call({})").contains("released"));
    assert!(bad("host.deref()").contains("Cannot dereference"));
}

#[test]
fn release_lets_go_of_the_host_object() {
    let (_isolate, context) = isolate_and_context();
    let counter = Arc::new(Counter::default());
    context.global().unwrap().set("host", remote(&counter), &Default::default()).unwrap();
    assert_eq!(Arc::strong_count(&counter), 2);
    eval(&context, "host.release()");
    assert_eq!(Arc::strong_count(&counter), 1, "the isolate no longer holds it");
    assert!(context.eval("host.copySync()", &EvalOptions::new()).is_err());
}

#[test]
fn a_reference_into_one_isolate_is_a_reference_in_another() {
    let (_owner, owner_context) = isolate_and_context();
    eval(&owner_context, "globalThis.data = { n: 20 }; globalThis.add = (a, b) => a + b");
    let (_user, user_context) = isolate_and_context();
    let global = owner_context.global().unwrap();
    user_context.global().unwrap().set("owner", Transferable::Remote(Arc::new(global)), &Default::default()).unwrap();
    let sum = user_context
        .eval_async("owner.get('add').then((add) => add.apply(undefined, [20, 22]))", EvalOptions::new().promise(true));
    assert_eq!(block_on(sum).unwrap(), Value::Number(42.0));
    // A synchronous operation from one isolate into another waits for the
    // other's queued call, on a host thread and on a pool worker alike.
    assert_eq!(user_context.eval("owner.getSync('data').typeof", &EvalOptions::new()).unwrap(), Value::from("object"));
    // A function comes out as a function that calls into its isolate.
    assert_eq!(user_context.eval("owner.getSync('add')(1, 2)", &EvalOptions::new()).unwrap(), Value::Number(3.0));
    assert_eq!(
        user_context
            .eval("owner.getSync('add', { reference: true }).applySync(undefined, [1, 2])", &EvalOptions::new())
            .unwrap(),
        Value::Number(3.0)
    );
    let from_worker = block_on(user_context.eval_async("owner.getSync('data').getSync('n')", EvalOptions::new()));
    assert_eq!(from_worker.unwrap(), Value::Number(20.0));
    // Passed back out, the inside Reference is the same remote value.
    let out = user_context.eval("owner", &EvalOptions::new()).unwrap();
    assert!(matches!(out, Transferable::Remote(_)), "{out}");
}

#[test]
fn synchronous_calls_between_isolates_from_async_calls_never_wait_behind_each_other() {
    // More callers than the pool has workers, each blocking a worker while
    // it waits for the owner's queued call, and calls that pass through a
    // middle isolate, blocking two workers each: every one completes.
    let (_owner, owner_context) = isolate_and_context();
    eval(&owner_context, "globalThis.add = (a, b) => a + b");
    let owner: Arc<dyn Remote> = Arc::new(owner_context.global().unwrap());
    let (_middle, middle_context) = isolate_and_context();
    middle_context
        .global()
        .unwrap()
        .set("owner", Transferable::Remote(Arc::clone(&owner)), &Default::default())
        .unwrap();
    eval(&middle_context, "globalThis.viaOwner = (a, b) => owner.getSync('add')(a, b)");
    let middle: Arc<dyn Remote> = Arc::new(middle_context.global().unwrap());
    let callers: Vec<_> = (0..3 * Executor::global().workers().max(2))
        .map(|_| {
            let (isolate, context) = isolate_and_context();
            let global = context.global().unwrap();
            global.set("owner", Transferable::Remote(Arc::clone(&owner)), &Default::default()).unwrap();
            global.set("middle", Transferable::Remote(Arc::clone(&middle)), &Default::default()).unwrap();
            (isolate, context)
        })
        .collect();
    let calls: Vec<_> = callers
        .iter()
        .enumerate()
        .map(|(n, (_, context))| {
            let code = if n % 2 == 0 {
                format!("owner.getSync('add')({n}, 1)")
            } else {
                format!("middle.getSync('viaOwner')({n}, 1)")
            };
            context.eval_async(&code, EvalOptions::new())
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        assert_eq!(block_on(call).unwrap(), Value::Number(n as f64 + 1.0), "caller {n}");
    }
}

#[test]
fn a_copy_of_the_arguments_reaches_the_host() {
    let (_isolate, context) = isolate_and_context();
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Option<Structured>>);
    impl Remote for Recorder {
        fn type_of(&self) -> String {
            "function".into()
        }
        fn call(&self, op: RemoteOp) -> CallbackResult {
            if let RemoteOp::Apply { mut arguments, result, .. } = op {
                assert_eq!(result, TransferMode::Copy);
                *self.0.lock().unwrap() = arguments.pop().and_then(ivm::Transferable::into_copy);
            }
            Ok(Value::Undefined.into())
        }
        fn call_async(&self, op: RemoteOp, resolver: Resolver) {
            resolver.resolve(self.call(op).unwrap());
        }
    }
    let recorder = Arc::new(Recorder::default());
    context.global().unwrap().set("r", Transferable::Remote(recorder.clone()), &Default::default()).unwrap();
    eval(&context, "r.applySync(undefined, [{ list: [1, 2] }], { result: { copy: true } })");
    let copy = recorder.0.lock().unwrap().take().expect("called");
    assert_eq!(copy.objects().len(), 2, "an object and its array");
}

#[test]
fn an_external_copy_passed_as_itself_is_an_external_copy_inside() {
    let (_isolate, context) = isolate_and_context();
    let copy = ivm::ExternalCopy::new(Structured::from(Value::from("held outside")));
    let global = context.global().unwrap();
    global.set("held", Transferable::Remote(Arc::new(copy.clone())), &Default::default()).unwrap();
    assert_eq!(eval(&context, "held.copy()"), Value::from("held outside"));
    assert_eq!(eval(&context, "typeof held.getSync"), Value::from("undefined"), "not a Reference");
    eval(&context, "held.release()");
    assert!(context.eval("held.copy()", &EvalOptions::new()).is_err());
    assert!(!copy.is_released(), "releasing inside lets go of the isolate's handle only");
}

#[test]
fn code_inside_an_isolate_makes_and_drives_isolates_of_its_own() {
    let (_isolate, context) = isolate_and_context();
    context.global().unwrap().set("ivm", Transferable::Remote(Arc::new(ivm::Library)), &Default::default()).unwrap();
    let code = r#"
        const child = new ivm.Isolate({ memoryLimit: 16 });
        const inner = child.createContextSync();
        inner.evalClosureSync('globalThis.base = $0', [40]);
        const script = child.compileScriptSync('base + 2');
        const results = [inner.evalSync('base + 1'), script.runSync(inner), inner.evalSync('({})'),
          inner.evalSync('[1, 2]', { copy: true }).length, typeof child.cpuTime, child.isDisposed];
        child.dispose();
        results.push(child.isDisposed);
        JSON.stringify(results)
    "#;
    assert_eq!(eval(&context, code), Value::from("[41,42,null,2,\"bigint\",false,true]"));
}

#[test]
fn a_child_isolate_keeps_its_limits_and_its_async_forms_work() {
    let (_isolate, context) = isolate_and_context();
    context.global().unwrap().set("ivm", Transferable::Remote(Arc::new(ivm::Library)), &Default::default()).unwrap();
    let hog = context.eval(
        "const c = new ivm.Isolate({ memoryLimit: 8 }).createContextSync(); \
         try { c.evalSync('const a = []; for (;;) a.push(new Array(1e5).fill(1))'); 'survived' } catch (e) { e.message }",
        &EvalOptions::new(),
    );
    assert_eq!(hog.unwrap(), Value::from("Isolate was disposed during execution due to memory limit"));
    let spin = eval(
        &context,
        "try { new ivm.Isolate().createContextSync().evalSync('for (;;) {}', { timeout: 20 }) } catch (e) { e.message }",
    );
    assert_eq!(spin, Value::from("Script execution timed out."));
    let promised = context.eval_async(
        "(async () => { const i = new ivm.Isolate(); const c = await i.createContext(); return await c.eval('6 * 7'); })()",
        EvalOptions::new().promise(true),
    );
    assert_eq!(block_on(promised).unwrap(), Value::Number(42.0));
}

#[test]
fn errors_from_child_isolates_and_host_functions_keep_their_class() {
    let (_isolate, context) = isolate_and_context();
    context.global().unwrap().set("ivm", Transferable::Remote(Arc::new(ivm::Library)), &Default::default()).unwrap();
    // A child isolate's timeout, uncaught by the parent's code, is a timeout
    // for the host too, with isolated-vm's message.
    let spin = context
        .eval("new ivm.Isolate().createContextSync().evalSync('for (;;) {}', { timeout: 20 })", &EvalOptions::new());
    match spin {
        Err(error @ Error::Js(_)) => {
            assert_eq!(error.class_name(), "TimeoutError");
            assert!(matches!(&error, Error::Js(js) if js.message == "Script execution timed out."), "{error:?}");
        }
        other => panic!("{other:?}"),
    }
    // Inside, it is an ordinary Error that code may catch and inspect.
    let caught = eval(
        &context,
        "try { new ivm.Isolate().createContextSync().evalSync('for (;;) {}', { timeout: 20 }) } \
         catch (e) { [e instanceof Error, e.name, e.message].join() }",
    );
    assert_eq!(caught, Value::from("true,Error,Script execution timed out."));
    // A child's own JavaScript exception stays that exception.
    let thrown = context.eval("new ivm.Isolate().createContextSync().evalSync('null.x')", &EvalOptions::new());
    assert!(matches!(&thrown, Err(Error::Js(js)) if js.name == "TypeError" && js.ivm_class.is_none()), "{thrown:?}");
    // A host function's own ivm error keeps its class on the way out, and a
    // refusal is a TypeError, as isolated-vm throws them.
    let cpu = ivm::Callback::new(|_| Err(Error::CpuLimit.into()));
    context.global().unwrap().set("spent", cpu, &Default::default()).unwrap();
    let spent = context.eval("spent()", &EvalOptions::new()).unwrap_err();
    assert_eq!(spent.class_name(), "CpuLimitError");
    let refuses = ivm::Callback::new(|_| Err(ivm::host::Refusal::NotAFunction.into()));
    context.global().unwrap().set("refuses", refuses, &Default::default()).unwrap();
    let refused = eval(&context, "try { refuses() } catch (e) { e.name + ': ' + e.message }");
    assert_eq!(refused, Value::from("TypeError: Reference is not a function"));
}

/// Issue 24: isolates made inside an isolate draw on its memory limit, and
/// go when it goes.
#[test]
fn child_isolates_take_their_limits_from_their_parent_and_go_with_it() {
    let parent = ivm::Isolate::new(ivm::IsolateOptions::new().memory_limit(32)).unwrap();
    let context = parent.create_context().unwrap();
    context.global().unwrap().set("ivm", Transferable::Remote(Arc::new(ivm::Library)), &Default::default()).unwrap();
    // The attack: children with limits far past the parent's.
    let refused = eval(
        &context,
        "const made = []; \
         try { for (let i = 0; i < 12; i++) made.push(new ivm.Isolate({ memoryLimit: 256 })); 'made' } \
         catch (e) { [made.length, e.name, e.message].join(' | ') }",
    );
    let refused = refused.as_value().and_then(Value::as_str).unwrap().to_owned();
    assert!(refused.starts_with("0 | RangeError | "), "{refused}");
    assert!(refused.contains("256 MB asked"), "{refused}");
    // Children that fit are made, until their limits use up the parent's.
    let fitted = eval(
        &context,
        "const kept = []; \
         try { for (let i = 0; i < 12; i++) kept.push(new ivm.Isolate({ memoryLimit: 8 })); 'all made' } \
         catch (e) { kept.length + ' ' + e.name }",
    );
    let fitted = fitted.as_value().and_then(Value::as_str).unwrap().to_owned();
    let made: usize = fitted.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{fitted}"));
    assert!((1..=3).contains(&made) && fitted.ends_with("RangeError"), "{fitted}");
    // Disposing one gives its share back.
    assert_eq!(
        eval(&context, "kept.pop().dispose(); kept.push(new ivm.Isolate({ memoryLimit: 8 })); kept.length"),
        Value::Number(made as f64)
    );
    // The children, as the host sees them.
    let children: Vec<Arc<ivm::Isolate>> = (0..made)
        .map(|i| match context.eval(&format!("kept[{i}]"), &EvalOptions::new()).unwrap() {
            Transferable::Remote(remote) => {
                let any: Arc<dyn std::any::Any + Send + Sync> = remote;
                any.downcast::<ivm::Isolate>().expect("an isolate")
            }
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(children.len(), made);
    assert!(children.iter().all(|child| !child.is_disposed()));
    parent.dispose().unwrap();
    assert!(children.iter().all(|child| child.is_disposed()), "disposing the parent disposes its children at once");
}
