//! ES modules: compiled once in an isolate, linked into one context through
//! a host resolver, then evaluated (top-level `await` included).
//!
//! Linking asks the host's resolver for the module behind each of a
//! module's import specifiers, walking the graph from the module being
//! instantiated; V8's own linking step then reads those answers from a
//! table made for the call (its resolve callback is a plain function). The
//! resolver runs outside the isolate's lock, so it may compile the modules
//! it returns. [`Module::instantiate`] takes a resolver that answers at
//! once, [`Module::instantiate_async`] one that answers later, from any
//! thread, through a [`ModuleResolver`].
//!
//! Modules linked with an async resolver keep it: a dynamic `import()` in
//! them asks it for the module, links that module with it, evaluates it and
//! settles the import's promise with its namespace, each step in the
//! isolate's turn. `import.meta` holds `url` (the module's filename) and
//! whatever the host set with [`Module::set_import_meta`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use ivm_runtime::oneshot;

use crate::context::new_string;
use crate::exception::caught;
use crate::held::Held;
use crate::run::Limits;
use crate::this_thread::LINKS;
use crate::transfer::transfer_out;
use crate::{
    CompileOptions, Context, Error, HostError, Isolate, JsError, Pending, Reference, Result, RunOptions, Structured,
    Transferable,
};

/// An ES module of an isolate. Cheap to clone; clones are the same module.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    held: Held<v8::Module>,
    /// Its key in the isolate's registry (and in its source's host-defined
    /// options, where a dynamic `import()` finds it).
    id: u32,
    filename: String,
    /// The specifiers of its static imports, in source order, once each.
    specifiers: Vec<String>,
    /// What its compilation did with V8's code cache.
    cache: crate::script::CodeCache,
    /// The context it was instantiated in.
    context: Mutex<Option<Context>>,
    /// The async resolver it was linked with, for its dynamic imports.
    resolver: Mutex<Option<Arc<ResolveFn>>>,
    /// Properties for `import.meta` besides `url`.
    meta: Mutex<Option<Structured>>,
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        let isolate = self.held.isolate();
        isolate.inner.modules.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

/// The modules of an isolate by id, for V8's callbacks.
pub(crate) type Registry = HashMap<u32, Weak<ModuleInner>>;

static NEXT_MODULE_ID: AtomicU32 = AtomicU32::new(1);

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module").field("specifiers", &self.inner.specifiers).finish_non_exhaustive()
    }
}

impl PartialEq for Module {
    fn eq(&self, other: &Module) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Module {}

impl Isolate {
    /// Compiles `code` as an ES module. Syntax errors are returned here, as
    /// [`Error::Js`].
    pub fn compile_module(&self, code: &str, options: &CompileOptions) -> Result<Module> {
        let context = self.compile_context()?;
        let id = NEXT_MODULE_ID.fetch_add(1, Ordering::Relaxed);
        let (global, specifiers, cache) = self.run_in(&context, Limits::default(), |scope| {
            let origin = crate::context::module_origin(scope, &options.origin, id)?;
            let (mut source, compile) = crate::script::source_with_cache(new_string(scope, code)?, &origin, options);
            let module = v8::script_compiler::compile_module2(
                scope,
                &mut source,
                compile,
                v8::script_compiler::NoCacheReason::NoReason,
            )
            .ok_or_else(|| caught(scope))?;
            let produced = if options.produce_cached_data {
                module.get_unbound_module_script(scope).create_code_cache()
            } else {
                None
            };
            let cache = crate::script::CodeCache {
                produced: produced.map(|data| Arc::from(&data[..])),
                rejected: crate::script::cache_rejected(&source),
            };
            let requests = module.get_module_requests();
            let mut specifiers: Vec<String> = Vec::with_capacity(requests.length());
            for index in 0..requests.length() {
                let request =
                    requests.get(scope, index).and_then(|data| v8::Local::<v8::ModuleRequest>::try_from(data).ok());
                if let Some(request) = request {
                    let specifier = request.get_specifier().to_rust_string_lossy(scope);
                    if !specifiers.contains(&specifier) {
                        specifiers.push(specifier);
                    }
                }
            }
            Ok((v8::Global::new(scope, module), specifiers, cache))
        })?;
        let held = Held::new(self.clone(), "Module has been released", global);
        let inner = Arc::new(ModuleInner {
            held,
            id,
            filename: options.origin.filename.to_string(),
            specifiers,
            cache,
            context: Mutex::new(None),
            resolver: Mutex::new(None),
            meta: Mutex::new(None),
        });
        self.inner.modules.lock().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::downgrade(&inner));
        Ok(Module { inner })
    }
}

/// A link of the graph: `referrer` imports `specifier`, which is `target`.
type Link = (Module, String, Module);

/// A link as V8's handles, for the resolve callback.
pub(crate) type LinkHandles = (Arc<v8::Global<v8::Module>>, String, Arc<v8::Global<v8::Module>>);

impl Module {
    pub fn isolate(&self) -> &Isolate {
        self.inner.held.isolate()
    }

    /// The specifiers the module imports statically (`import … from "x"`,
    /// `export … from "x"`), in source order, each once.
    pub fn dependency_specifiers(&self) -> &[String] {
        &self.inner.specifiers
    }

    /// The context the module was instantiated in, if it has been.
    fn instantiated_in(&self) -> Option<Context> {
        self.inner.context.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Links the module and everything it imports into `context`: `resolve`
    /// is asked for the module behind each specifier of each module not yet
    /// linked, with the module that imports it, and must answer with a
    /// module of the same isolate. Modules linked already (into this
    /// context) are reused as they are.
    pub fn instantiate(
        &self,
        context: &Context,
        mut resolve: impl FnMut(&str, &Module) -> Result<Module>,
    ) -> Result<()> {
        let mut graph = Graph::new(self, context)?;
        while let Some((referrer, specifier)) = graph.next_request() {
            let target = resolve(&specifier, &referrer)?;
            graph.add(referrer, specifier, target)?;
        }
        graph.link(None)
    }

    /// [`instantiate`](Module::instantiate) with a resolver that answers
    /// later: `resolve` is called with each specifier, the module importing
    /// it and a [`ModuleResolver`] to settle, from any thread, when the
    /// answer is known. The resolver is asked one specifier at a time; the
    /// link itself takes its turn with the isolate's other calls.
    pub fn instantiate_async(
        &self,
        context: &Context,
        resolve: impl Fn(String, Module, ModuleResolver) + Send + Sync + 'static,
    ) -> Pending<()> {
        self.instantiate_with(context, Arc::new(resolve))
    }

    fn instantiate_with(&self, context: &Context, resolve: Arc<ResolveFn>) -> Pending<()> {
        let (sender, receiver) = oneshot();
        let walk = Arc::new(AsyncWalk { resolve, done: Mutex::new(Some(sender)) });
        match Graph::new(self, context) {
            Ok(graph) => walk.step(graph),
            Err(error) => walk.finish(Err(error)),
        }
        Pending::new(receiver, self.isolate())
    }

    /// Runs the module (after [`instantiate`](Module::instantiate)) and the
    /// modules it imports that have not run yet. Top-level `await` is
    /// waited for: the call ends when the module's evaluation has, with its
    /// exception if it threw. Like a synchronous `eval` with `promise`, it
    /// cannot wait on the host (an async callback): use
    /// [`evaluate_async`](Module::evaluate_async) for that.
    pub fn evaluate(&self, options: &RunOptions) -> Result<Transferable> {
        let (module, context) = self.ready_to_run()?;
        let isolate = self.isolate();
        let context_handle = context.global_handle()?;
        let options = RunOptions { promise: true, ..options.clone() };
        isolate.run_in(&context_handle, Limits::from(&options), |scope| {
            let module = v8::Local::new(scope, &*module);
            let completion = module.evaluate(scope).ok_or_else(|| caught(scope))?;
            transfer_out(scope, isolate, &context_handle, completion, &options)
        })
    }

    /// The module's namespace object (its exports), once it is
    /// instantiated.
    pub fn namespace(&self) -> Result<Reference> {
        let (module, context) = self.ready_to_run()?;
        let isolate = self.isolate();
        let context_handle = context.global_handle()?;
        isolate.run_in(&context_handle, Limits::default(), |scope| {
            let module = v8::Local::new(scope, &*module);
            let namespace = module.get_module_namespace();
            Ok(Reference::new(scope, isolate, &context_handle, namespace))
        })
    }

    fn ready_to_run(&self) -> Result<(Arc<v8::Global<v8::Module>>, Context)> {
        let module = self.inner.held.get()?;
        let context = self
            .instantiated_in()
            .ok_or_else(|| Error::InvalidArgument("The module must be instantiated before it is evaluated".into()))?;
        Ok((module, context))
    }

    /// V8's code cache of the module, if it was compiled with
    /// `produce_cached_data`.
    pub fn cached_data(&self) -> Option<&[u8]> {
        self.inner.cache.produced.as_deref()
    }

    /// Whether V8 rejected the `cached_data` the module was compiled with
    /// (`None` if it was given none).
    pub fn cached_data_rejected(&self) -> Option<bool> {
        self.inner.cache.rejected
    }

    /// Properties `import.meta` gets besides `url` (a plain object's own
    /// properties), for code that reads it after this call.
    pub fn set_import_meta(&self, meta: Structured) {
        *self.inner.meta.lock().unwrap_or_else(PoisonError::into_inner) = Some(meta);
    }

    fn dynamic_resolver(&self) -> Option<Arc<ResolveFn>> {
        self.inner.resolver.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Releases the module's handle; later uses fail.
    pub fn release(&self) {
        self.inner.held.release();
    }
}

impl Module {
    /// [`evaluate`](Module::evaluate), run on the worker pool. A top-level
    /// `await` may wait on the host (an async callback): the result comes
    /// when the evaluation settles, within the call's timeout.
    pub fn evaluate_async(&self, options: RunOptions) -> Pending<Transferable> {
        let module = self.clone();
        let options = RunOptions { promise: true, ..options };
        use crate::forms::{Async, QueuedForm};
        Async::queue_returning(self.isolate(), &options.clone(), move || module.evaluate(&options))
    }
}

/// The modules of a graph being linked, and what the resolver said so far.
struct Graph {
    root: Module,
    context: Context,
    links: Vec<Link>,
    /// Specifiers of modules not linked yet, still to ask about.
    requests: Vec<(Module, String)>,
    seen: HashSet<usize>,
}

impl Graph {
    fn new(root: &Module, context: &Context) -> Result<Graph> {
        if context.isolate() != root.isolate() {
            return Err(Error::WrongIsolate("A module can only be instantiated in a context of its own isolate"));
        }
        let mut graph = Graph {
            root: root.clone(),
            context: context.clone(),
            links: Vec::new(),
            requests: Vec::new(),
            seen: HashSet::new(),
        };
        graph.visit(root)?;
        Ok(graph)
    }

    fn next_request(&mut self) -> Option<(Module, String)> {
        self.requests.pop()
    }

    /// Takes in a module reached by the walk: one linked already needs no
    /// questions (if it is linked into this context).
    fn visit(&mut self, module: &Module) -> Result<()> {
        if !self.seen.insert(Arc::as_ptr(&module.inner) as usize) {
            return Ok(());
        }
        match module.instantiated_in() {
            Some(context) if Arc::ptr_eq(&context.global_handle()?, &self.context.global_handle()?) => Ok(()),
            Some(_) => {
                Err(Error::InvalidArgument("A module instantiated in another context cannot be linked here".into()))
            }
            None => {
                let questions =
                    module.inner.specifiers.iter().rev().map(|specifier| (module.clone(), specifier.clone()));
                self.requests.extend(questions);
                Ok(())
            }
        }
    }

    fn add(&mut self, referrer: Module, specifier: String, target: Module) -> Result<()> {
        if target.isolate() != referrer.isolate() {
            return Err(Error::WrongIsolate("A module can only import modules of its own isolate"));
        }
        self.visit(&target)?;
        self.links.push((referrer, specifier, target));
        Ok(())
    }

    /// V8's linking step, answered from `links`; the modules linked keep
    /// `resolver`, if any, for their dynamic imports.
    fn link(self, resolver: Option<&Arc<ResolveFn>>) -> Result<()> {
        let Graph { root, context, links, .. } = self;
        let module = root.inner.held.get()?;
        let mut table = Vec::with_capacity(links.len());
        for (referrer, specifier, target) in &links {
            table.push((referrer.inner.held.get()?, specifier.clone(), target.inner.held.get()?));
        }
        let context_handle = context.global_handle()?;
        root.isolate().run_in(&context_handle, Limits::default(), |scope| {
            let module = v8::Local::new(scope, &*module);
            LINKS.with(|links| *links.borrow_mut() = table);
            let linked = module.instantiate_module(scope, resolve_link);
            LINKS.with(|links| links.borrow_mut().clear());
            linked.ok_or_else(|| caught(scope)).map(drop)
        })?;
        // Everything the walk reached is linked now, into `context`.
        let mut linked = vec![root];
        linked.extend(links.into_iter().map(|(_, _, target)| target));
        for module in linked {
            module.inner.context.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(|| context.clone());
            if let Some(resolver) = resolver {
                module
                    .inner
                    .resolver
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| Arc::clone(resolver));
            }
        }
        Ok(())
    }
}

fn resolve_link<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    // SAFETY: V8 calls this during `instantiate_module`, inside the scope of
    // the link, with the context being linked into.
    v8::callback_scope!(unsafe scope, context);
    let specifier = specifier.to_rust_string_lossy(scope);
    // The table is not borrowed across V8's calls: a fatal error escaping
    // from one (`fatal.rs`) would leave it borrowed for good.
    let candidates: Vec<_> = LINKS.with(|links| {
        let links = links.borrow();
        let named = links.iter().filter(|(_, name, _)| *name == specifier);
        named.map(|(from, _, target)| (Arc::clone(from), Arc::clone(target))).collect()
    });
    let found = candidates.iter().find_map(|(from, target)| {
        (v8::Local::new(scope, &**from) == referrer).then(|| v8::Local::new(scope, &**target))
    });
    if found.is_none() {
        let message = format!("Cannot resolve module '{specifier}'");
        if let Some(message) = v8::String::new(scope, &message) {
            let error = v8::Exception::error(scope, message);
            scope.throw_exception(error);
        }
    }
    found
}

/// Settles one question of an async module resolver: which module a
/// specifier is. Dropping it unsettled fails the instantiation.
pub struct ModuleResolver {
    answer: Option<Box<dyn FnOnce(Result<Module>) + Send>>,
}

impl fmt::Debug for ModuleResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleResolver").field("settled", &self.answer.is_none()).finish()
    }
}

impl ModuleResolver {
    /// The specifier is `module`.
    pub fn resolve(mut self, module: Module) {
        self.settle(Ok(module));
    }

    /// The specifier cannot be resolved: the instantiation (or the dynamic
    /// `import()`) fails with `error`, a JavaScript error or one of ivm's as
    /// itself, anything else with its message.
    pub fn reject(mut self, error: impl Into<HostError>) {
        let error = match error.into() {
            HostError::Ivm(error) => error,
            HostError::Type(message) => Error::Js(JsError::new("TypeError", message)),
            other => Error::InvalidArgument(other.to_string()),
        };
        self.settle(Err(error));
    }

    fn settle(&mut self, answer: Result<Module>) {
        if let Some(settle) = self.answer.take() {
            settle(answer);
        }
    }
}

impl Drop for ModuleResolver {
    fn drop(&mut self) {
        self.settle(Err(Error::InvalidArgument("the module resolver was dropped without an answer".into())));
    }
}

type ResolveFn = dyn Fn(String, Module, ModuleResolver) + Send + Sync;

/// An async instantiation: the graph walk goes on wherever the last
/// answer arrived.
struct AsyncWalk {
    resolve: Arc<ResolveFn>,
    done: Mutex<Option<ivm_runtime::Sender<Result<()>>>>,
}

impl AsyncWalk {
    /// Asks the next question, or links once none is left.
    fn step(self: &Arc<Self>, mut graph: Graph) {
        let Some((referrer, specifier)) = graph.next_request() else {
            let isolate = graph.root.isolate().clone();
            let walk = Arc::clone(self);
            isolate.spawn(move || walk.finish(graph.link(Some(&walk.resolve))));
            return;
        };
        let walk = Arc::clone(self);
        let graph = Mutex::new(Some((graph, referrer.clone(), specifier.clone())));
        let answer = move |answer: Result<Module>| {
            let Some((mut graph, referrer, specifier)) = graph.lock().unwrap_or_else(PoisonError::into_inner).take()
            else {
                return;
            };
            match answer.and_then(|target| graph.add(referrer, specifier, target)) {
                Ok(()) => walk.step(graph),
                Err(error) => walk.finish(Err(error)),
            }
        };
        (self.resolve)(specifier, referrer, ModuleResolver { answer: Some(Box::new(answer)) });
    }

    fn finish(&self, result: Result<()>) {
        if let Some(done) = self.done.lock().unwrap_or_else(PoisonError::into_inner).take() {
            done.send(result);
        }
    }
}

/// The module whose source has `host_defined_options` (its id, see
/// `compile_module`).
fn module_with_options(
    scope: &mut v8::PinScope<'_, '_>,
    isolate: &Isolate,
    host_defined_options: v8::Local<'_, v8::Data>,
) -> Option<Module> {
    // The PrimitiveArray given at compilation arrives as the FixedArray it
    // is inside V8.
    let options = v8::Local::<v8::FixedArray>::try_from(host_defined_options).ok()?;
    let first = options.get(scope, 0)?;
    let id = v8::Local::<v8::Value>::try_from(first).ok()?.uint32_value(scope)?;
    let registry = isolate.inner.modules.lock().unwrap_or_else(PoisonError::into_inner);
    registry.get(&id)?.upgrade().map(|inner| Module { inner })
}

/// V8's `import()`: asks the importing module's resolver, in the isolate's
/// turn after the running call, and settles the promise when the module is
/// linked and evaluated (see the module docs).
pub(crate) fn import_dynamically<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    host_defined_options: v8::Local<'s, v8::Data>,
    _resource_name: v8::Local<'s, v8::Value>,
    specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
) -> Option<v8::Local<'s, v8::Promise>> {
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    let specifier = specifier.to_rust_string_lossy(scope);
    let isolate = Isolate::of(scope)?;
    let referrer = module_with_options(scope, &isolate, host_defined_options);
    let found =
        referrer.and_then(|referrer| Some((referrer.dynamic_resolver()?, referrer.instantiated_in()?, referrer)));
    let Some((resolve, context, referrer)) = found else {
        let message =
            format!("Cannot import '{specifier}': import() works in modules instantiated with an async resolver");
        let error = v8::String::new(scope, &message).map(|message| v8::Exception::error(scope, message))?;
        resolver.reject(scope, error);
        return Some(promise);
    };
    // Until the import settles, the call that made it is not waiting on
    // the host alone (see `follow`).
    isolate.inner.host.pending_calls.fetch_add(1, Ordering::SeqCst);
    let import =
        Arc::new(DynamicImport { isolate: isolate.clone(), context, promise: v8::Global::new(scope, resolver) });
    isolate.spawn(move || {
        let answer = {
            let (import, resolve) = (Arc::clone(&import), Arc::clone(&resolve));
            move |answer: Result<Module>| match answer {
                Ok(module) => import.link_and_run(module, resolve),
                Err(error) => import.settle(Err(error)),
            }
        };
        resolve(specifier, referrer, ModuleResolver { answer: Some(Box::new(answer)) });
    });
    Some(promise)
}

/// One dynamic `import()` on its way.
struct DynamicImport {
    isolate: Isolate,
    context: Context,
    promise: v8::Global<v8::PromiseResolver>,
}

impl DynamicImport {
    fn link_and_run(self: Arc<Self>, module: Module, resolve: Arc<ResolveFn>) {
        if module.isolate() != &self.isolate {
            return self.settle(Err(Error::WrongIsolate("A module can only import modules of its own isolate")));
        }
        let linking = module.instantiate_with(&self.context, resolve);
        linking.on_ready(move |linked| match linked {
            Err(error) => self.settle(Err(error)),
            Ok(()) => module.evaluate_async(RunOptions::new()).on_ready(move |evaluated| {
                self.settle(evaluated.map(|_| module));
            }),
        });
    }

    /// Settles the import's promise with the module's namespace, or rejects
    /// it, in the isolate's turn.
    fn settle(self: Arc<Self>, outcome: Result<Module>) {
        let isolate = self.isolate.clone();
        isolate.spawn(move || {
            let Ok(context) = self.context.global_handle() else { return };
            let namespace = match &outcome {
                Ok(module) => module.inner.held.get().map(Some),
                Err(_) => Ok(None),
            };
            let _ = self.isolate.run_in(&context, Limits::default(), |scope| {
                let promise = v8::Local::new(scope, &self.promise);
                match (namespace, outcome) {
                    (Ok(Some(module)), _) => {
                        let namespace = v8::Local::new(scope, &*module).get_module_namespace();
                        promise.resolve(scope, namespace);
                    }
                    // A JavaScript error the resolver gave keeps its class.
                    (_, Err(Error::Js(js))) => {
                        let error = crate::exception::js_error_value(scope, &js);
                        promise.reject(scope, error);
                    }
                    (Err(error), _) | (_, Err(error)) => {
                        let message =
                            v8::String::new(scope, &error.to_string()).unwrap_or_else(|| v8::String::empty(scope));
                        let error = v8::Exception::error(scope, message);
                        promise.reject(scope, error);
                    }
                    (Ok(None), Ok(_)) => {}
                }
                scope.perform_microtask_checkpoint();
                Ok(())
            });
            crate::follow::host_call_settled(&self.isolate);
        });
    }
}

/// V8's `import.meta` initialiser: `url` is the module's filename, then the
/// properties the host set.
pub(crate) unsafe extern "C" fn initialize_meta(
    context: v8::Local<'_, v8::Context>,
    module: v8::Local<'_, v8::Module>,
    meta: v8::Local<'_, v8::Object>,
) {
    // SAFETY: V8 calls this while running the module's code, in `context`.
    v8::callback_scope!(unsafe scope, context);
    let Some(isolate) = Isolate::of(scope) else { return };
    let found = {
        let registry = isolate.inner.modules.lock().unwrap_or_else(PoisonError::into_inner);
        let mut modules = registry.values().filter_map(Weak::upgrade);
        modules.find(|inner| inner.held.get().is_ok_and(|global| v8::Local::new(scope, &*global) == module))
    };
    let Some(inner) = found else { return };
    if let (Some(key), Some(url)) = (v8::String::new(scope, "url"), v8::String::new(scope, &inner.filename)) {
        meta.create_data_property(scope, key.into(), url.into());
    }
    let extra = inner.meta.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let Some(extra) = extra else { return };
    let Ok(value) = ivm_marshal::to_v8(scope, &extra) else { return };
    let Ok(source) = v8::Local::<v8::Object>::try_from(value) else { return };
    let Some(keys) = source.get_own_property_names(scope, Default::default()) else { return };
    for index in 0..keys.length() {
        let Some(key) = keys.get_index(scope, index) else { continue };
        let (Ok(name), Some(value)) = (v8::Local::<v8::Name>::try_from(key), source.get(scope, key)) else { continue };
        meta.create_data_property(scope, name, value);
    }
}
