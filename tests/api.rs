//! The synchronous API: values, contexts, scripts, closures, references,
//! errors, handles and disposal.

use std::time::Duration;

use ivm::{
    BigInt, CompileOptions, Error, EvalOptions, Isolate, IsolateOptions, Reference, RunOptions, ScriptOrigin,
    TransferMode, Transferable, Value,
};
use ivm_tests::{eval, isolate_and_context};

fn js_error(result: Result<Transferable, Error>) -> ivm::JsError {
    match result {
        Err(Error::Js(error)) => error,
        other => panic!("expected a JavaScript error, got {other:?}"),
    }
}

fn reference(t: Transferable) -> Reference {
    t.into_reference().expect("expected a Reference")
}

#[test]
fn eval_returns_primitives_by_value() {
    let (_isolate, context) = isolate_and_context();
    assert_eq!(eval(&context, "1 + 2"), Value::Number(3.0));
    assert_eq!(eval(&context, "'a' + 'b'"), Value::from("ab"));
    assert_eq!(eval(&context, "'snow ☃ and 𝄞'"), Value::from("snow ☃ and 𝄞"));
    assert_eq!(eval(&context, "1 < 2"), Value::Bool(true));
    assert_eq!(eval(&context, "null"), Value::Null);
    assert_eq!(eval(&context, "undefined"), Value::Undefined);
    assert_eq!(eval(&context, "var x = 1"), Value::Undefined);
    assert_eq!(eval(&context, "2n ** 64n"), Value::BigInt(BigInt::from_words(false, vec![0, 1])));
    assert_eq!(eval(&context, "-(2n ** 70n) + 1n").to_string(), "-1180591620717411303423n");
    assert_eq!(eval(&context, "-5n"), Value::BigInt(BigInt::from(-5i64)));
    let negative_zero = eval(&context, "-0").into_value().and_then(|v| v.as_f64()).unwrap();
    assert!(negative_zero == 0.0 && negative_zero.is_sign_negative());
    assert!(eval(&context, "NaN").into_value().and_then(|v| v.as_f64()).unwrap().is_nan());
}

#[test]
fn values_round_trip_into_the_isolate() {
    let (_isolate, context) = isolate_and_context();
    let values = [
        Value::Undefined,
        Value::Null,
        Value::Bool(false),
        Value::Number(-1.5e300),
        Value::from("lone ☃"),
        Value::BigInt(BigInt::from_words(true, vec![1, 2, 3])),
    ];
    for value in values {
        let back = context.eval_closure("return $0", &[value.clone().into()], &EvalOptions::new()).expect("round trip");
        assert_eq!(back, value);
    }
}

#[test]
fn objects_come_back_as_references_unless_copied() {
    let (_isolate, context) = isolate_and_context();
    let object = reference(eval(&context, "({ a: 1 })"));
    assert_eq!(object.type_of().unwrap(), "object");
    let function = reference(eval(&context, "(function f() {})"));
    assert_eq!(function.type_of().unwrap(), "function");
    let symbol = reference(eval(&context, "Symbol('s')"));
    assert_eq!(symbol.type_of().unwrap(), "object", "isolated-vm reports symbols as objects");

    let null = context.eval("null", &EvalOptions::new().result(TransferMode::Reference)).unwrap();
    let null = reference(null);
    assert_eq!(null.type_of().unwrap(), "null");
    assert_eq!(null.copy().unwrap(), Value::Null);

    let copied = context.eval("({ a: 1 })", &EvalOptions::new().result(TransferMode::Copy)).unwrap();
    let copied = copied.into_copy().expect("a copy");
    assert_eq!(copied.objects(), &[ivm::Object::Plain(vec![("a".into(), Value::Number(1.0))])]);
    let function = context.eval("() => 1", &EvalOptions::new().result(TransferMode::Copy));
    assert!(matches!(function, Err(Error::Marshal(ivm::MarshalError::DataClone { .. }))), "{function:?}");
}

#[test]
fn contexts_do_not_share_globals() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let a = isolate.create_context().unwrap();
    let b = isolate.create_context().unwrap();
    eval(&a, "globalThis.secret = 42");
    assert_eq!(eval(&a, "typeof secret"), Value::from("number"));
    assert_eq!(eval(&b, "typeof secret"), Value::from("undefined"));
}

#[test]
fn scripts_compile_once_and_run_in_any_context() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let script =
        isolate.compile_script("globalThis.count = (globalThis.count || 0) + 1", &CompileOptions::new()).unwrap();
    let a = isolate.create_context().unwrap();
    let b = isolate.create_context().unwrap();
    assert_eq!(script.run(&a, &RunOptions::new()).unwrap(), Value::Number(1.0));
    assert_eq!(script.run(&a, &RunOptions::new()).unwrap(), Value::Number(2.0));
    assert_eq!(script.run(&b, &RunOptions::new()).unwrap(), Value::Number(1.0));
    let as_reference = script.run(&b, &RunOptions::new().result(TransferMode::Reference)).unwrap();
    assert_eq!(reference(as_reference).copy().unwrap(), Value::Number(2.0));
}

#[test]
fn closures_receive_arguments_and_may_return() {
    let (_isolate, context) = isolate_and_context();
    let options = EvalOptions::new();
    let sum = context.eval_closure("return $0 + $1", &[2.into(), 40.into()], &options).unwrap();
    assert_eq!(sum, Value::Number(42.0));
    let text =
        context.eval_closure("return typeof $0 + ':' + $1", &["x".into(), Value::Null.into()], &options).unwrap();
    assert_eq!(text, Value::from("string:null"));
    assert_eq!(context.eval_closure("1 + 1", &[], &options).unwrap(), Value::Undefined);
    assert_eq!(
        context.eval_closure("return arguments.length", &[1.into(), 2.into(), 3.into()], &options).unwrap(),
        Value::Number(3.0)
    );

    // A reference passed back into its own isolate arrives as the value itself.
    let object = reference(eval(&context, "globalThis.o = { n: 1 }"));
    let same = context.eval_closure("return $0 === globalThis.o", &[object.into()], &options).unwrap();
    assert_eq!(same, Value::Bool(true));
}

#[test]
fn references_get_set_delete_and_apply() {
    let (_isolate, context) = isolate_and_context();
    let run = RunOptions::new();
    let object = reference(eval(&context, "globalThis.obj = { a: 1, nested: { b: 2 } }; obj"));
    assert_eq!(object.get("a", &run).unwrap(), Value::Number(1.0));
    assert_eq!(object.get("missing", &run).unwrap(), Value::Undefined);
    let nested = reference(object.get("nested", &run).unwrap());
    assert_eq!(nested.get("b", &run).unwrap(), Value::Number(2.0));

    assert!(object.set("c", "three", &run).unwrap());
    assert_eq!(eval(&context, "obj.c"), Value::from("three"));
    assert!(object.set(7, nested.clone(), &run).unwrap());
    assert_eq!(eval(&context, "obj[7] === obj.nested"), Value::Bool(true));

    assert!(object.delete("a", &run).unwrap());
    assert_eq!(eval(&context, "'a' in obj"), Value::Bool(false));
    eval(&context, "Object.defineProperty(obj, 'fixed', { value: 1, configurable: false })");
    assert!(!object.delete("fixed", &run).unwrap());

    let add = reference(eval(&context, "(function (a, b) { return this.base + a + b; })"));
    let receiver = reference(eval(&context, "({ base: 100 })"));
    assert_eq!(add.apply(receiver, &[1.into(), 2.into()], &run).unwrap(), Value::Number(103.0));
    let make = reference(eval(&context, "(() => ({ made: true }))"));
    let made = reference(make.apply((), &[], &run).unwrap());
    assert_eq!(made.get("made", &run).unwrap(), Value::Bool(true));

    let thrower = reference(eval(&context, "(() => { throw new TypeError('nope'); })"));
    let error = js_error(thrower.apply((), &[], &run));
    assert_eq!((error.name.as_str(), error.message.as_str()), ("TypeError", "nope"));

    let not_function = object.apply((), &[], &run);
    assert!(matches!(not_function, Err(Error::InvalidArgument(_))), "{not_function:?}");
    let number = reference(context.eval("5", &EvalOptions::new().result(TransferMode::Reference)).unwrap());
    assert!(matches!(number.get("x", &run), Err(Error::InvalidArgument(_))));
}

#[test]
fn getters_run_under_the_call_timeout() {
    let (_isolate, context) = isolate_and_context();
    let object = reference(eval(&context, "({ get slow() { while (true) {} } })"));
    let result = object.get("slow", &RunOptions::new().timeout(Duration::from_millis(50)).accessors(true));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert_eq!(eval(&context, "'still usable'"), Value::from("still usable"));
}

#[test]
fn get_reads_own_data_properties_unless_accessors_are_allowed() {
    let (_isolate, context) = isolate_and_context();
    let object = reference(eval(&context, "({ own: 1, get computed() { return 2 }, __proto__: { inherited: 3 } })"));
    let plain = RunOptions::new();
    assert_eq!(object.get("own", &plain).unwrap(), Value::Number(1.0));
    assert_eq!(object.get("inherited", &plain).unwrap(), Value::Undefined);
    assert!(matches!(object.get("computed", &plain), Err(Error::InvalidArgument(_))));
    let accessors = RunOptions::new().accessors(true);
    assert_eq!(object.get("computed", &accessors).unwrap(), Value::Number(2.0));
    assert_eq!(object.get("inherited", &accessors).unwrap(), Value::Number(3.0));
    let proxy = reference(eval(&context, "new Proxy({}, { get: () => 4 })"));
    assert!(matches!(proxy.get("x", &plain), Err(Error::InvalidArgument(_))));
    assert_eq!(proxy.get("x", &accessors).unwrap(), Value::Number(4.0));
}

#[test]
fn the_global_reference_is_globalthis() {
    let (_isolate, context) = isolate_and_context();
    let global = context.global().unwrap();
    assert!(global.set("answer", 42, &RunOptions::new()).unwrap());
    assert_eq!(eval(&context, "answer"), Value::Number(42.0));
    eval(&context, "var fromScript = 'hi'");
    assert_eq!(global.get("fromScript", &RunOptions::new()).unwrap(), Value::from("hi"));
}

#[test]
fn deref_gives_the_value_in_its_own_isolate_only() {
    let (isolate, context) = isolate_and_context();
    let object = reference(eval(&context, "({ tag: 'mine' })"));
    let tag = context
        .enter(|scope| {
            let value = object.deref(scope).expect("deref in the owning isolate");
            let object = value.to_object(scope).unwrap();
            let key = v8::String::new(scope, "tag").unwrap();
            object.get(scope, key.into()).unwrap().to_rust_string_lossy(scope)
        })
        .unwrap();
    assert_eq!(tag, "mine");

    let (_other, other_context) = isolate_and_context();
    let wrong = other_context.enter(|scope| object.deref(scope).map(|_| ())).unwrap();
    assert!(matches!(wrong, Err(Error::WrongIsolate(_))), "{wrong:?}");
    drop(isolate);
}

#[test]
fn handles_from_another_isolate_are_refused() {
    let (isolate_a, context_a) = isolate_and_context();
    let (isolate_b, context_b) = isolate_and_context();
    let script = isolate_a.compile_script("1", &CompileOptions::new()).unwrap();
    assert!(matches!(script.run(&context_b, &RunOptions::new()), Err(Error::WrongIsolate(_))));
    let from_a = reference(eval(&context_a, "({})"));
    let passed = context_b.eval_closure("return $0", &[from_a.into()], &EvalOptions::new());
    assert!(matches!(passed, Err(Error::WrongIsolate(_))), "{passed:?}");
    assert_ne!(isolate_a, isolate_b);
}

#[test]
fn script_origin_shows_in_stack_traces() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let context = isolate.create_context().unwrap();
    let origin = ScriptOrigin::new("my-module.js").line_offset(10).column_offset(0);
    let script = isolate
        .compile_script(
            "function f() {\n  throw new Error('deep');\n}\nf();",
            &CompileOptions::new().origin(origin.clone()),
        )
        .unwrap();
    let error = js_error(script.run(&context, &RunOptions::new()));
    let stack = error.stack.expect("errors carry their stack");
    assert!(stack.contains("my-module.js:12:9"), "{stack}");
    assert!(stack.starts_with("Error: deep"), "{stack}");

    let error = js_error(context.eval("\n\nnull.x", &EvalOptions::new().origin(ScriptOrigin::new("eval.js"))));
    assert_eq!(error.name, "TypeError");
    assert!(error.stack.unwrap().contains("eval.js:3:"), "TypeError stack names the origin");

    let error = js_error(context.eval_closure(
        "\nthrow new RangeError('r')",
        &[],
        &EvalOptions::new().origin(ScriptOrigin::new("closure.js").line_offset(5)),
    ));
    assert!(error.stack.unwrap().contains("closure.js:7:"));
}

#[test]
fn syntax_errors_are_js_errors_with_their_location() {
    let (isolate, context) = isolate_and_context();
    let error = js_error(context.eval("let x = ;", &EvalOptions::new().origin(ScriptOrigin::new("broken.js"))));
    assert_eq!(error.name, "SyntaxError");
    assert!(error.message.contains("Unexpected token"), "{}", error.message);
    assert!(error.stack.unwrap().contains("broken.js:1:9"));

    let compiled =
        isolate.compile_script("function (", &CompileOptions::new().origin(ScriptOrigin::new("c.js").line_offset(3)));
    match compiled {
        Err(Error::Js(error)) => {
            assert_eq!(error.name, "SyntaxError");
            assert!(error.stack.unwrap().contains("c.js:4:"));
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let closure = js_error(context.eval_closure("return )", &[], &EvalOptions::new()));
    assert_eq!(closure.name, "SyntaxError");
}

#[test]
fn thrown_values_keep_their_details() {
    const NOT_AN_ERROR: &str =
        "An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`.";
    let (_isolate, context) = isolate_and_context();
    let error = js_error(context.eval("throw 42", &EvalOptions::new()));
    assert_eq!(error.thrown, Some(Value::Number(42.0)));
    assert_eq!((error.name.as_str(), error.message.as_str()), ("", "42"));

    let error = js_error(context.eval("throw 'plain string'", &EvalOptions::new()));
    assert_eq!(error.thrown, Some(Value::from("plain string")));
    assert_eq!(error.to_string(), "Uncaught plain string");

    let error = js_error(context.eval("throw null", &EvalOptions::new()));
    assert_eq!(error.thrown, Some(Value::Null));

    // An object that is not an error is not copied (nor is its toString
    // run): isolated-vm's message says what it was.
    let error = js_error(context.eval("throw { toString() { return 'custom' } }", &EvalOptions::new()));
    assert_eq!(error.thrown, None);
    assert_eq!((error.name.as_str(), error.message.as_str()), ("Error", NOT_AN_ERROR));

    // One with a message (or a stack) stands for the error it describes.
    let error = js_error(context.eval("throw { message: 'hi', name: 'Named' }", &EvalOptions::new()));
    assert_eq!((error.name.as_str(), error.message.as_str()), ("Named", "hi"));

    let error = js_error(context.eval(
        "class QuotaError extends Error { constructor(m) { super(m); this.name = 'QuotaError'; } }\nthrow new QuotaError('over')",
        &EvalOptions::new(),
    ));
    assert_eq!((error.name.as_str(), error.message.as_str()), ("QuotaError", "over"));
    assert!(error.stack.unwrap().starts_with("QuotaError: over"));

    // A hostile `name` getter cannot turn error reporting into a crash.
    let error = js_error(context.eval(
        "const e = new Error('m'); Object.defineProperty(e, 'name', { get() { throw new Error('gotcha') } }); throw e",
        &EvalOptions::new(),
    ));
    assert_eq!(error.message, "m");
}

#[test]
fn every_operation_after_dispose_is_an_error() {
    let (isolate, context) = isolate_and_context();
    let script = isolate.compile_script("1", &CompileOptions::new()).unwrap();
    let object = reference(eval(&context, "({ f() {} })"));
    let run = RunOptions::new();
    isolate.dispose().unwrap();
    assert!(isolate.is_disposed());

    assert!(matches!(isolate.dispose(), Err(Error::Disposed)));
    assert!(matches!(isolate.create_context(), Err(Error::Disposed)));
    assert!(matches!(isolate.compile_script("1", &CompileOptions::new()), Err(Error::Disposed)));
    assert!(matches!(isolate.heap_statistics(), Err(Error::Disposed)));
    assert!(matches!(context.eval("1", &EvalOptions::new()), Err(Error::Disposed)));
    assert!(matches!(context.eval_closure("1", &[], &EvalOptions::new()), Err(Error::Disposed)));
    assert!(matches!(context.global(), Err(Error::Disposed)));
    assert!(matches!(context.enter(|_| ()), Err(Error::Disposed)));
    assert!(matches!(script.run(&context, &run), Err(Error::Disposed)));
    assert!(matches!(object.type_of(), Err(Error::Disposed)));
    assert!(matches!(object.get("f", &run), Err(Error::Disposed)));
    assert!(matches!(object.set("f", 1, &run), Err(Error::Disposed)));
    assert!(matches!(object.delete("f", &run), Err(Error::Disposed)));
    assert!(matches!(object.apply((), &[], &run), Err(Error::Disposed)));
    assert!(matches!(object.copy(), Err(Error::Disposed)));
    // Releasing what is left is still fine.
    object.release();
    script.release();
    context.release();
}

#[test]
fn released_handles_refuse_further_use() {
    let (isolate, context) = isolate_and_context();
    let base = isolate.reference_count();
    let script = isolate.compile_script("1", &CompileOptions::new()).unwrap();
    let object = reference(eval(&context, "({})"));
    let alias = object.clone();
    assert_eq!(isolate.reference_count(), base + 2, "clones share one handle");

    object.release();
    assert!(matches!(alias.get("x", &RunOptions::new()), Err(Error::Released("Reference has been released"))));
    assert!(matches!(alias.type_of(), Err(Error::Released(_))));
    script.release();
    assert!(matches!(script.run(&context, &RunOptions::new()), Err(Error::Released("Script has been released"))));
    assert_eq!(isolate.reference_count(), base);

    let extra = isolate.create_context().unwrap();
    assert_eq!(isolate.reference_count(), base + 1);
    drop(extra);
    assert_eq!(isolate.reference_count(), base);
    context.release();
    assert!(matches!(context.eval("1", &EvalOptions::new()), Err(Error::Released("Context is released"))));
}

#[test]
fn invalid_options_are_refused() {
    assert!(matches!(Isolate::new(IsolateOptions::new().memory_limit(7)), Err(Error::InvalidArgument(_))));
    assert!(matches!(Isolate::new(IsolateOptions::new().memory_limit(usize::MAX)), Err(Error::InvalidArgument(_))));
    assert!(matches!(Isolate::new(IsolateOptions::new().snapshot(vec![1, 2, 3])), Err(Error::InvalidArgument(_))));
    assert!(Isolate::new(IsolateOptions::new().memory_limit(8)).is_ok());
}

#[test]
fn heap_statistics_reflect_the_limit_and_external_memory() {
    let isolate = Isolate::new(IsolateOptions::new().memory_limit(64)).unwrap();
    let context = isolate.create_context().unwrap();
    let before = isolate.heap_statistics().unwrap();
    assert!(before.used_heap_size > 0);
    assert!(before.total_heap_size >= before.used_heap_size);
    assert!(before.heap_size_limit >= 32 << 20 && before.heap_size_limit <= 128 << 20, "{before:?}");
    assert!(before.number_of_native_contexts >= 1);

    eval(&context, "globalThis.buffer = new ArrayBuffer(4 << 20)");
    let after = isolate.heap_statistics().unwrap();
    assert!(after.externally_allocated_size >= before.externally_allocated_size + (4 << 20), "{after:?}");
}

#[test]
fn cpu_and_wall_time_accumulate() {
    let (isolate, context) = isolate_and_context();
    assert_eq!(isolate.cpu_time(), Duration::ZERO);
    // A fixed amount of work rather than of time: on a busy machine a
    // time-bound loop may get little of the CPU.
    eval(&context, "let x = 0; for (let i = 0; i < 3e7; i++) x += i; x");
    let (cpu, wall) = (isolate.cpu_time(), isolate.wall_time());
    assert!(cpu >= Duration::from_millis(5), "cpu {cpu:?}");
    assert!(wall >= cpu, "wall {wall:?} < cpu {cpu:?}");
    eval(&context, "1");
    assert!(isolate.wall_time() > wall);
}

#[test]
fn isolates_run_in_parallel_on_any_thread() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Isolate>();
    assert_send_sync::<ivm::Context>();
    assert_send_sync::<ivm::Script>();
    assert_send_sync::<Reference>();

    // An isolate created on one thread is used from others, one at a time.
    let (isolate, context) = isolate_and_context();
    eval(&context, "globalThis.hits = 0");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let context = context.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    context.eval("hits++", &EvalOptions::new()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(eval(&context, "hits"), Value::Number(100.0));
    drop(isolate);
}

#[test]
fn nested_calls_from_inside_an_isolate_call_are_errors_not_deadlocks() {
    let (isolate, context) = isolate_and_context();
    let (other, other_context) = isolate_and_context();
    let nested = context.enter(|_| context.eval("1", &EvalOptions::new())).unwrap();
    assert!(matches!(nested, Err(Error::NestedCall)), "{nested:?}");
    let into_other = context.enter(|_| other_context.eval("1", &EvalOptions::new())).unwrap();
    assert!(matches!(into_other, Err(Error::NestedCall)), "{into_other:?}");
    let stats = context.enter(|_| isolate.heap_statistics()).unwrap();
    assert!(matches!(stats, Err(Error::NestedCall)));

    // Disposing the isolate from inside its own call ends that call.
    let disposed = context.enter(|_| isolate.dispose());
    assert!(matches!(disposed, Err(Error::DisposedDuringExecution)), "{disposed:?}");
    assert!(isolate.is_disposed());
    assert!(matches!(context.eval("1", &EvalOptions::new()), Err(Error::Disposed)));
    assert_eq!(eval(&other_context, "'unaffected'"), Value::from("unaffected"));
    drop(other);
}

#[test]
fn code_caches_are_produced_consumed_and_rejected_when_stale() {
    let (isolate, context) = isolate_and_context();
    let code = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); } fib(20)";
    let first = isolate.compile_script(code, &CompileOptions::new().produce_cached_data(true)).unwrap();
    let cache = first.cached_data().expect("a code cache").to_vec();
    assert!(!cache.is_empty());
    assert_eq!(first.cached_data_rejected(), None, "it was given none");

    let again = isolate.compile_script(code, &CompileOptions::new().cached_data(cache.clone())).unwrap();
    assert_eq!(again.cached_data_rejected(), Some(false));
    assert_eq!(again.run(&context, &RunOptions::new()).unwrap(), Value::Number(6765.0));
    assert!(again.cached_data().is_none(), "none made unless asked");

    let other = isolate.compile_script("1 + 1", &CompileOptions::new().cached_data(cache.clone())).unwrap();
    assert_eq!(other.cached_data_rejected(), Some(true), "a cache of other source is refused");
    assert_eq!(other.run(&context, &RunOptions::new()).unwrap(), Value::Number(2.0));
    // (Source V8 has compiled already comes from its in-memory cache, which
    // never looks at the bytes: garbage is tried on new source.)
    let fresh = "'never compiled before'";
    let garbage = isolate.compile_script(fresh, &CompileOptions::new().cached_data(vec![1u8, 2, 3])).unwrap();
    assert_eq!(garbage.cached_data_rejected(), Some(true));
    assert_eq!(garbage.run(&context, &RunOptions::new()).unwrap(), Value::from("never compiled before"));

    let module =
        isolate.compile_module("export const x = 1;", &CompileOptions::new().produce_cached_data(true)).unwrap();
    let module_cache = module.cached_data().expect("a module code cache").to_vec();
    let reused =
        isolate.compile_module("export const x = 1;", &CompileOptions::new().cached_data(module_cache)).unwrap();
    assert_eq!(reused.cached_data_rejected(), Some(false));

    // eval compiles with a script's cache too, in an isolate that has not
    // compiled the source yet; a stale one only costs the compile.
    let (_fresh_isolate, fresh_context) = isolate_and_context();
    let cached = fresh_context.eval(code, &EvalOptions::new().cached_data(cache)).unwrap();
    assert_eq!(cached, Value::Number(6765.0));
    let stale = fresh_context.eval("'other source'", &EvalOptions::new().cached_data(vec![1u8, 2, 3])).unwrap();
    assert_eq!(stale, Value::from("other source"));
}

#[test]
fn contexts_can_refuse_code_generation_and_start_with_globals() {
    use ivm::{ContextOptions, JsString, Object, ObjectId, Structured};
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    let strict = isolate
        .create_context_with(&ContextOptions::new().code_generation_from_strings(false).wasm_code_generation(false))
        .unwrap();
    let eval_error = js_error(strict.eval("eval('1 + 1')", &EvalOptions::new()));
    assert_eq!(eval_error.name, "EvalError");
    assert_eq!(js_error(strict.eval("new Function('return 1')", &EvalOptions::new())).name, "EvalError");
    // The smallest valid WebAssembly module: the magic number and version.
    let wasm = "new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))";
    assert_eq!(js_error(strict.eval(wasm, &EvalOptions::new())).name, "CompileError");
    assert_eq!(strict.eval("1 + 1", &EvalOptions::new()).unwrap(), Value::Number(2.0), "plain code still runs");

    let open = isolate.create_context().unwrap();
    assert_eq!(open.eval("eval('1 + 1')", &EvalOptions::new()).unwrap(), Value::Number(2.0));
    assert_eq!(
        open.eval(&format!("{wasm} instanceof WebAssembly.Module"), &EvalOptions::new()).unwrap(),
        Value::Bool(true)
    );

    let globals = Structured::new(
        Value::Object(ObjectId(0)),
        vec![Object::Plain(vec![
            (JsString::from("answer"), Value::Number(42.0)),
            (JsString::from("name"), Value::from("vm")),
        ])],
    )
    .unwrap();
    let seeded = isolate.create_context_with(&ContextOptions::new().globals(globals)).unwrap();
    assert_eq!(seeded.eval("`${name}: ${answer}`", &EvalOptions::new()).unwrap(), Value::from("vm: 42"));
    assert!(matches!(
        isolate.create_context_with(&ContextOptions::new().globals(Structured::from(Value::Number(1.0)))),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn an_unhandled_rejection_fails_the_call_it_happens_in() {
    let (_isolate, context) = isolate_and_context();
    // The code runs on, but the call fails with the rejection's reason.
    let error =
        js_error(context.eval("globalThis.y = 0; Promise.reject(new RangeError('x')); y = 5; 1", &EvalOptions::new()));
    assert_eq!((error.name.as_str(), error.message.as_str()), ("RangeError", "x"));
    assert_eq!(context.eval("y", &EvalOptions::new()).unwrap().into_value(), Some(Value::Number(5.0)));
    // A rejection handled before the call ends, or in a later microtask of
    // it, does not.
    let handled = context.eval("const p = Promise.reject(1); p.catch(() => {}); 2", &EvalOptions::new());
    assert_eq!(handled.unwrap().into_value(), Some(Value::Number(2.0)));
    let later = context
        .eval("const q = Promise.reject(1); Promise.resolve().then(() => q.catch(() => {})); 3", &EvalOptions::new());
    assert_eq!(later.unwrap().into_value(), Some(Value::Number(3.0)));
    // An async function's rejection counts; the next call is unaffected.
    let error = js_error(context.eval("(async () => { throw new TypeError('late') })(); 4", &EvalOptions::new()));
    assert_eq!((error.name.as_str(), error.message.as_str()), ("TypeError", "late"));
    assert_eq!(context.eval("6", &EvalOptions::new()).unwrap().into_value(), Some(Value::Number(6.0)));
}
