//! ES modules: compiling, linking through a host resolver (answering at
//! once or later), evaluation with top-level await, namespaces, and the
//! errors of each step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_executor::block_on;
use ivm::{
    Callback, CompileOptions, Context, Error, Isolate, IsolateOptions, Module, RunOptions, ScriptOrigin, TransferMode,
    Value,
};
use ivm_tests::{eval, isolate_and_context};

fn compile(isolate: &Isolate, name: &str, code: &str) -> Module {
    isolate.compile_module(code, &CompileOptions::new().origin(ScriptOrigin::new(name))).unwrap()
}

/// A resolver over modules compiled from `sources`, by specifier, each
/// compiled once.
fn library(isolate: &Isolate, sources: &[(&str, &str)]) -> impl FnMut(&str, &Module) -> ivm::Result<Module> {
    let compiled: HashMap<String, Module> =
        sources.iter().map(|(name, code)| ((*name).to_owned(), compile(isolate, name, code))).collect();
    move |specifier, _referrer| {
        compiled.get(specifier).cloned().ok_or_else(|| Error::InvalidArgument(format!("no module {specifier}")))
    }
}

fn namespace_value(module: &Module, export: &str) -> Value {
    let namespace = module.namespace().unwrap();
    namespace.get(export, &RunOptions::new()).unwrap().into_value().expect("a primitive export")
}

#[test]
fn a_module_graph_links_evaluates_and_exports() {
    let (isolate, context) = isolate_and_context();
    let main = compile(
        &isolate,
        "main.js",
        "import { add } from './math.js'; import value from './value.js'; export { default as value } from './value.js'; export const sum = add(value, 2);",
    );
    assert_eq!(main.dependency_specifiers(), ["./math.js", "./value.js"]);
    let mut asked = Vec::new();
    let mut resolve = library(
        &isolate,
        &[("./math.js", "export function add(a, b) { return a + b; }"), ("./value.js", "export default 40;")],
    );
    main.instantiate(&context, |specifier, referrer| {
        asked.push(specifier.to_owned());
        assert_eq!(referrer, &main);
        resolve(specifier, referrer)
    })
    .unwrap();
    assert_eq!(asked, ["./math.js", "./value.js"]);
    assert_eq!(main.evaluate(&RunOptions::new()).unwrap(), Value::Undefined);
    assert_eq!(namespace_value(&main, "sum"), Value::Number(42.0));
    assert_eq!(namespace_value(&main, "value"), Value::Number(40.0));
}

#[test]
fn a_module_imported_twice_is_one_instance_and_cycles_link() {
    let (isolate, context) = isolate_and_context();
    let main =
        compile(&isolate, "main.js", "import { a } from 'a'; import { b } from 'b'; export const both = a() + b();");
    let mut resolve = library(
        &isolate,
        &[
            ("a", "import { b } from 'b'; export function a() { return 'a'; } export const seen = () => b();"),
            (
                "b",
                "import { a } from 'a'; export function b() { return 'b'; } globalThis.count = (globalThis.count || 0) + 1;",
            ),
        ],
    );
    main.instantiate(&context, &mut resolve).unwrap();
    main.evaluate(&RunOptions::new()).unwrap();
    assert_eq!(namespace_value(&main, "both"), Value::from("ab"));
    assert_eq!(eval(&context, "count"), Value::Number(1.0), "each module runs once");
}

#[test]
fn top_level_await_is_waited_for_and_its_failures_come_back() {
    let (isolate, context) = isolate_and_context();
    let waits = compile(&isolate, "waits.js", "export const value = await Promise.resolve(6).then((n) => n * 7);");
    waits.instantiate(&context, |_, _| unreachable!("no imports")).unwrap();
    waits.evaluate(&RunOptions::new()).unwrap();
    assert_eq!(namespace_value(&waits, "value"), Value::Number(42.0));

    let fails = compile(&isolate, "fails.js", "await null; throw new RangeError('late failure');");
    fails.instantiate(&context, |_, _| unreachable!()).unwrap();
    match fails.evaluate(&RunOptions::new()) {
        Err(Error::Js(error)) => {
            assert_eq!((error.name.as_str(), error.message.as_str()), ("RangeError", "late failure"))
        }
        other => panic!("expected the module's error, got {other:?}"),
    }
}

#[test]
fn async_evaluation_waits_for_the_host_and_sync_evaluation_says_it_cannot() {
    let (isolate, context) = isolate_and_context();
    let later = Callback::new_async(|_, resolver| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            resolver.resolve(Value::from("from the host"));
        });
    });
    context.global().unwrap().set("later", later, &RunOptions::new()).unwrap();
    let code = "export const answer = await later();";
    let waiting = compile(&isolate, "waiting.js", code);
    waiting.instantiate(&context, |_, _| unreachable!()).unwrap();
    block_on(waiting.evaluate_async(RunOptions::new())).unwrap();
    assert_eq!(namespace_value(&waiting, "answer"), Value::from("from the host"));

    let blocked = compile(&isolate, "blocked.js", code);
    blocked.instantiate(&context, |_, _| unreachable!()).unwrap();
    assert!(blocked.evaluate(&RunOptions::new()).is_err(), "a synchronous evaluation cannot wait on the host");
}

#[test]
fn an_async_resolver_answers_from_another_thread() {
    let (isolate, context) = isolate_and_context();
    let main = compile(&isolate, "main.js", "import { x } from 'x'; export const doubled = x * 2;");
    let compiled = compile(&isolate, "x", "import { y } from 'y'; export const x = y + 1;");
    let leaf = compile(&isolate, "y", "export const y = 20;");
    let modules: Arc<Mutex<HashMap<String, Module>>> =
        Arc::new(Mutex::new([("x".to_owned(), compiled), ("y".to_owned(), leaf)].into_iter().collect()));
    let pending = main.instantiate_async(&context, move |specifier, _referrer, resolver| {
        let modules = Arc::clone(&modules);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            match modules.lock().unwrap().get(&specifier).cloned() {
                Some(module) => resolver.resolve(module),
                None => resolver.reject(format!("no module {specifier}")),
            }
        });
    });
    block_on(pending).unwrap();
    block_on(main.evaluate_async(RunOptions::new())).unwrap();
    assert_eq!(namespace_value(&main, "doubled"), Value::Number(42.0));

    let missing = compile(&isolate, "missing.js", "import 'nowhere';");
    let refused =
        missing.instantiate_async(&context, |specifier, _, resolver| resolver.reject(format!("no module {specifier}")));
    match block_on(refused) {
        Err(Error::InvalidArgument(message)) => assert_eq!(message, "no module nowhere"),
        other => panic!("expected the resolver's refusal, got {other:?}"),
    }
    let dropped = missing.instantiate_async(&context, |_, _, resolver| drop(resolver));
    assert!(block_on(dropped).is_err());
}

#[test]
fn errors_say_what_went_wrong() {
    let (isolate, context) = isolate_and_context();
    match isolate.compile_module("export const = 1;", &CompileOptions::new()) {
        Err(Error::Js(error)) => assert_eq!(error.name, "SyntaxError"),
        other => panic!("expected a SyntaxError, got {other:?}"),
    }
    let main = compile(&isolate, "main.js", "import { missing } from 'dep';");
    let unresolved =
        main.instantiate(&context, |specifier, _| Err(Error::InvalidArgument(format!("cannot find {specifier}"))));
    assert!(matches!(unresolved, Err(Error::InvalidArgument(message)) if message == "cannot find dep"));
    // A module that does not export what is imported fails to link.
    let dep = compile(&isolate, "dep", "export const present = 1;");
    match main.instantiate(&context, |_, _| Ok(dep.clone())) {
        Err(Error::Js(error)) => assert_eq!(error.name, "SyntaxError", "{error}"),
        other => panic!("expected a link error, got {other:?}"),
    }
    // Not instantiated yet.
    let fresh = compile(&isolate, "fresh.js", "export default 1;");
    assert!(matches!(fresh.evaluate(&RunOptions::new()), Err(Error::InvalidArgument(_))));
    assert!(matches!(fresh.namespace(), Err(Error::InvalidArgument(_))));
    // Modules of another isolate, or linked into another context.
    let other = Isolate::new(IsolateOptions::new()).unwrap();
    let foreign = compile(&other, "foreign", "export default 1;");
    let importer = compile(&isolate, "importer.js", "import f from 'foreign';");
    assert!(matches!(importer.instantiate(&context, |_, _| Ok(foreign.clone())), Err(Error::WrongIsolate(_))));
    assert!(matches!(foreign.instantiate(&context, |_, _| unreachable!()), Err(Error::WrongIsolate(_))));
    let elsewhere = isolate.create_context().unwrap();
    let shared = compile(&isolate, "shared", "export default 2;");
    shared.instantiate(&elsewhere, |_, _| unreachable!()).unwrap();
    let user = compile(&isolate, "user.js", "import s from 'shared';");
    assert!(matches!(user.instantiate(&context, |_, _| Ok(shared.clone())), Err(Error::InvalidArgument(_))));
}

#[test]
fn evaluation_honours_timeouts_and_the_namespace_is_a_reference() {
    let (isolate, context): (Isolate, Context) = isolate_and_context();
    let spin = compile(&isolate, "spin.js", "while (true) {}");
    spin.instantiate(&context, |_, _| unreachable!()).unwrap();
    let result = spin.evaluate(&RunOptions::new().timeout(Duration::from_millis(30)));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");

    let module = compile(&isolate, "m.js", "export const list = [1, 2, 3];");
    module.instantiate(&context, |_, _| unreachable!()).unwrap();
    module.evaluate(&RunOptions::new()).unwrap();
    let namespace = module.namespace().unwrap();
    assert_eq!(namespace.type_of().unwrap(), "object");
    let list = namespace.get("list", &RunOptions::new().result(TransferMode::Copy)).unwrap();
    assert_eq!(list.as_copy().unwrap().objects().len(), 1);
}

#[test]
fn dynamic_import_goes_through_the_async_resolver() {
    let (isolate, context) = isolate_and_context();
    let main = compile(
        &isolate,
        "main.js",
        "const { shout } = await import('./shout.js'); export const loud = shout('hi'); \
         export const missing = await import('./nowhere.js').then(() => 'found', (e) => e.message);",
    );
    let shout = compile(
        &isolate,
        "./shout.js",
        "import { suffix } from './suffix.js'; export const shout = (s) => s.toUpperCase() + suffix;",
    );
    let suffix = compile(&isolate, "./suffix.js", "export const suffix = '!';");
    let modules: HashMap<String, Module> =
        [("./shout.js".to_owned(), shout), ("./suffix.js".to_owned(), suffix)].into_iter().collect();
    let modules = Arc::new(modules);
    let linking =
        main.instantiate_async(&context, move |specifier, _referrer, resolver| match modules.get(&specifier) {
            Some(module) => resolver.resolve(module.clone()),
            None => resolver.reject(format!("no module {specifier}")),
        });
    block_on(linking).unwrap();
    block_on(main.evaluate_async(RunOptions::new().timeout(Duration::from_secs(5)))).unwrap();
    assert_eq!(namespace_value(&main, "loud"), Value::from("HI!"));
    let missing = namespace_value(&main, "missing");
    assert!(missing.as_str().unwrap().contains("no module ./nowhere.js"), "{missing:?}");
}

#[test]
fn dynamic_import_without_an_async_resolver_says_why_it_fails() {
    let (isolate, context) = isolate_and_context();
    let main =
        compile(&isolate, "main.js", "export const why = await import('x').then(() => 'loaded', (e) => e.message);");
    main.instantiate(&context, |_, _| unreachable!()).unwrap();
    main.evaluate(&RunOptions::new()).unwrap();
    let why = namespace_value(&main, "why");
    assert!(why.as_str().unwrap().contains("async resolver"), "{why:?}");
    let from_script = eval(&context, "import('x').then(() => 'loaded', (e) => e.message)");
    assert!(from_script.as_reference().is_some(), "a script's import() fails the same way (a promise)");
}

#[test]
fn import_meta_has_the_url_and_what_the_host_adds() {
    use ivm::{JsString, Object, ObjectId, Structured};
    let (isolate, context) = isolate_and_context();
    let module = compile(
        &isolate,
        "file:///app/main.js",
        "export const url = import.meta.url; export const mode = import.meta.mode;",
    );
    let extra = Structured::new(
        Value::Object(ObjectId(0)),
        vec![Object::Plain(vec![(JsString::from("mode"), Value::from("test"))])],
    )
    .unwrap();
    module.set_import_meta(extra);
    module.instantiate(&context, |_, _| unreachable!()).unwrap();
    module.evaluate(&RunOptions::new()).unwrap();
    assert_eq!(namespace_value(&module, "url"), Value::from("file:///app/main.js"));
    assert_eq!(namespace_value(&module, "mode"), Value::from("test"));
}

#[test]
fn a_graph_too_deep_to_link_is_an_error_not_a_crash() {
    let (isolate, context) = isolate_and_context();
    let depth = 5000;
    let chain: Vec<Module> = (0..depth)
        .map(|i| {
            let code = if i + 1 < depth { format!("import './m{}.js';", i + 1) } else { String::new() };
            compile(&isolate, &format!("./m{i}.js"), &code)
        })
        .collect();
    let by_name: HashMap<String, Module> =
        chain.iter().enumerate().map(|(i, m)| (format!("./m{i}.js"), m.clone())).collect();
    let linked = chain[0].instantiate(&context, |specifier, _| Ok(by_name[specifier].clone()));
    if let Err(error) = &linked {
        assert!(matches!(error, Error::Js(_)), "a JavaScript error (stack overflow), got {error:?}");
    }
    assert_eq!(eval(&context, "1 + 1"), Value::Number(2.0), "the isolate is still usable");
}
