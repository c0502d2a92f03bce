//! `ivm.Module`: an ES module of an isolate (`isolate.compileModule`),
//! linked by `instantiate` through a resolver written in JavaScript, then
//! evaluated. ivm-core walks the graph and links it; this file only asks
//! Node's resolver, on Node's thread, for the module behind each specifier.
//!
//! The resolver gets the referrer as the very object it handed back for it
//! (the module `instantiate` was called on, for its own imports), as in
//! isolated-vm, so that it can key its own tables on them. What it throws,
//! or the reason its promise rejects with, is what `instantiate` throws or
//! rejects with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ivm_core::{HostError, ModuleResolver, RunOptions};
use napi::bindgen_prelude::This;
use napi::{Env, JsBoolean, JsFunction, JsObject, JsUnknown, NapiValue};
use napi_derive::napi;

use crate::convert::{ResultMode, raw, transferable_to_js};
use crate::env_state::{JsHandle, state};
use crate::errors::{internal, rejection, throw, to_napi, type_error};
use crate::forms::{Form, SharedHold, run, settled_promise, take, undefined};
use crate::host::{host_error_of, in_scope};
use crate::isolate::Context;
use crate::main_thread::MainThread;
use crate::options::Options;
use crate::reference::{Reference, instance, unwrap};

#[derive(Debug)]
#[napi]
pub struct Module {
    pub(crate) module: ivm_core::Module,
}

#[napi]
impl Module {
    /// The specifiers the module imports statically, in source order, each
    /// once (a new array each time, as in isolated-vm).
    #[napi(getter, catch_unwind)]
    pub fn dependency_specifiers(&self) -> Vec<String> {
        self.module.dependency_specifiers().to_vec()
    }

    /// Links the module and its imports into `context`, asking `resolve`
    /// (specifier, referrer) for each import: it must return a Module, and
    /// for the async form may return a promise of one.
    #[napi(js_name = "_instantiate", catch_unwind)]
    pub fn instantiate(
        &self,
        env: Env,
        this: This<JsObject>,
        context: &Context,
        resolve: JsFunction,
        form: u32,
    ) -> napi::Result<JsUnknown> {
        let main = Arc::clone(&state(&env)?.main);
        match Form::from_code(form)? {
            Form::Sync => {
                let linker = Linker::new(env, main, &self.module, &this, &resolve, None)?;
                let linked = self.module.instantiate(&context.context, |specifier, referrer| {
                    let answer =
                        linker.call(&env, specifier, referrer).and_then(|value| linker.module_of(&env, &value));
                    answer.map_err(|error| ivm_core::Error::InvalidArgument(linker.fail(&env, error).to_string()))
                });
                match linked {
                    Ok(()) => undefined(&env),
                    Err(error) => Err(linker.error(&env, error)),
                }
            }
            Form::Async => {
                // Node stays up while the link is asked about or runs, not
                // while it waits on the resolver's own promise (see `ask_here`).
                let hold: SharedHold = Arc::new(Mutex::new(Some(main.hold(&env))));
                let linker = Linker::new(env, main, &self.module, &this, &resolve, Some(Arc::clone(&hold)))?;
                let asker = Arc::clone(&linker);
                let pending = self.module.instantiate_async(&context.context, move |specifier, referrer, resolver| {
                    asker.ask(specifier, referrer, resolver);
                });
                settled_promise(&env, pending, hold, move |env, result| {
                    linker.instantiated.store(true, Ordering::SeqCst);
                    match result {
                        Ok(()) => undefined(env),
                        Err(error) => Err(linker.error(env, error)),
                    }
                })
            }
            Form::Ignored => Err(internal("instantiate has no ignored form")),
        }
    }

    /// Runs the module; the value is its evaluation's (`undefined` once
    /// its top-level await is done).
    #[napi(js_name = "_evaluate", catch_unwind)]
    pub fn evaluate(&self, env: Env, form: u32, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let module = &self.module;
        // Of the options only `timeout` is read, as in isolated-vm.
        let options = Options::of(&env, options, "options")?.timed(RunOptions::new().promise(true))?;
        run(
            &env,
            Form::from_code(form)?,
            || module.evaluate(&options),
            || module.evaluate_async(options.clone()),
            |env, value| transferable_to_js(env, value, ResultMode::Transferable),
        )
    }

    /// A Reference to the module's namespace object, once it is
    /// instantiated (`index.js` makes it the `namespace` property).
    #[napi(js_name = "_namespace", catch_unwind)]
    pub fn namespace(&self, env: Env) -> napi::Result<Reference> {
        self.module.namespace().map(Reference::isolate).map_err(|error| {
            let error = match error {
                ivm_core::Error::InvalidArgument(_) => {
                    ivm_core::Error::InvalidArgument("Module has not been instantiated.".into())
                }
                other => other,
            };
            to_napi(&env, error)
        })
    }

    /// Copies of `meta`'s own properties become `import.meta`'s (node:vm's
    /// `initializeImportMeta`, through `vm.js`).
    #[napi(js_name = "_setImportMeta", catch_unwind)]
    pub fn set_import_meta(&self, env: Env, meta: JsUnknown) -> napi::Result<()> {
        self.module.set_import_meta(crate::convert::js_to_structured(&env, meta)?);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn release(&self) {
        self.module.release();
    }
}

/// One `instantiate` call's side in Node: the resolver, the objects of the
/// modules it answered with, and what it threw.
struct Linker {
    main: Arc<MainThread>,
    resolve: JsHandle,
    /// Each module of the graph with the object the resolver knows it as.
    objects: Mutex<Vec<(ivm_core::Module, JsHandle)>>,
    /// The first thing the resolver threw (or its promise rejected with).
    thrown: Mutex<Option<JsHandle>>,
    /// The async form's hold on Node's event loop.
    hold: Option<SharedHold>,
    /// The async form's instantiation has settled: the resolver is asked
    /// only for dynamic imports from then on, which do not hold Node up.
    instantiated: AtomicBool,
}

impl Linker {
    fn new(
        env: Env,
        main: Arc<MainThread>,
        root: &ivm_core::Module,
        this: &JsObject,
        resolve: &JsFunction,
        hold: Option<SharedHold>,
    ) -> napi::Result<Arc<Linker>> {
        let root_object = JsHandle::new(env, &main, this)?;
        Ok(Arc::new(Linker {
            resolve: JsHandle::new(env, &main, resolve)?,
            objects: Mutex::new(vec![(root.clone(), root_object)]),
            thrown: Mutex::new(None),
            main,
            hold,
            instantiated: AtomicBool::new(false),
        }))
    }

    /// Calls the resolver for `specifier`, imported by `referrer`.
    fn call(&self, env: &Env, specifier: &str, referrer: &ivm_core::Module) -> napi::Result<JsUnknown> {
        let function = self.resolve.function(env)?;
        let referrer = self.object_of(env, referrer)?;
        function.call(None, &[env.create_string(specifier)?.into_unknown(), referrer])
    }

    /// The object the resolver knows `module` as.
    fn object_of(&self, env: &Env, module: &ivm_core::Module) -> napi::Result<JsUnknown> {
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        match objects.iter().find(|(known, _)| known == module) {
            Some((_, object)) => object.unknown(env),
            None => instance(env, Module { module: module.clone() }),
        }
    }

    /// The module a resolver's answer is; a TypeError if it is not one.
    fn module_of(&self, env: &Env, value: &JsUnknown) -> napi::Result<ivm_core::Module> {
        if value.get_type()? != napi::ValueType::Object || !Module::instance_of(*env, value)? {
            return Err(type_error(env, "Resolved dependency was not `Module`"));
        }
        // SAFETY: checked to be an instance of the class just above.
        let module = unsafe { unwrap::<Module>(env, value) }?.module.clone();
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        if !objects.iter().any(|(known, _)| *known == module) {
            objects.push((module.clone(), JsHandle::new(*env, &self.main, value)?));
        }
        Ok(module)
    }

    /// Keeps what a failed answer threw, for `instantiate` to throw it, and
    /// returns its message for ivm-core.
    fn fail(&self, env: &Env, error: napi::Error) -> HostError {
        self.keep_thrown(env, rejection(env, error))
    }

    /// Keeps what the resolver threw, for `instantiate`'s failure, and
    /// gives what ivm-core is told of it (an error keeps its class).
    fn keep_thrown(&self, env: &Env, thrown: JsUnknown) -> HostError {
        let mut kept = self.thrown.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.is_none() {
            // In a box of its own: older Node-APIs reference objects only,
            // and a primitive may be thrown.
            let boxed = env.create_array_with_length(1).and_then(|mut boxed| {
                // SAFETY: the same live value of `env`, twice.
                boxed.set_element(0, unsafe { JsUnknown::from_raw_unchecked(env.raw(), raw(&thrown)) })?;
                JsHandle::new(*env, &self.main, &boxed)
            });
            *kept = boxed.ok();
        }
        drop(kept);
        host_error_of(env, thrown, "The module resolver failed")
    }

    /// The error `instantiate` fails with: what the resolver threw, if it
    /// did, else `error`.
    fn error(&self, env: &Env, error: ivm_core::Error) -> napi::Error {
        let thrown = self.thrown.lock().unwrap_or_else(PoisonError::into_inner).take();
        match thrown.map(|boxed| boxed.object(env).and_then(|boxed| boxed.get_element::<JsUnknown>(0))) {
            Some(Ok(value)) => throw(env, &value),
            _ => to_napi(env, error),
        }
    }

    /// The async form's question, from whichever thread ivm-core asks on:
    /// answered on Node's thread.
    fn ask(self: &Arc<Self>, specifier: String, referrer: ivm_core::Module, resolver: ModuleResolver) {
        let linker = Arc::clone(self);
        // At teardown the resolver is dropped unanswered, which fails the
        // instantiation.
        let job = move |env: Option<Env>| {
            if let Some(env) = env {
                in_scope(&env, |env| linker.ask_here(env, &specifier, &referrer, resolver));
            }
        };
        if self.main.is_current() {
            // SAFETY: this is the environment's thread, inside a Node call
            // (`instantiate`, or the callback of a previous answer).
            job(Some(unsafe { Env::from_raw(self.resolve.raw_env()) }));
        } else {
            let _ = self.main.post(Box::new(job));
        }
    }

    /// Asks the resolver, on Node's thread. Its answer is taken on a later
    /// microtask, a promise or not, as isolated-vm does: the stack unwinds
    /// between questions, however deep the graph. While the answer is
    /// awaited Node's event loop is not held, so a promise that nothing
    /// can settle lets Node exit, as isolated-vm does.
    fn ask_here(self: &Arc<Self>, env: &Env, specifier: &str, referrer: &ivm_core::Module, resolver: ModuleResolver) {
        let value = match self.call(env, specifier, referrer) {
            Ok(value) => value,
            Err(error) => return resolver.reject(self.fail(env, error)),
        };
        let resolver = Arc::new(Mutex::new(Some(resolver)));
        let waiting = Arc::clone(&resolver);
        let linker = Arc::clone(self);
        let done = env.create_function_from_closure("done", move |ctx| {
            let Some(resolver) = waiting.lock().unwrap_or_else(PoisonError::into_inner).take() else {
                return ctx.env.get_undefined();
            };
            linker.hold_again(ctx.env);
            let failed: bool = ctx.get::<JsBoolean>(0)?.get_value()?;
            let value: JsUnknown = ctx.get(1)?;
            if failed {
                resolver.reject(linker.keep_thrown(ctx.env, value));
            } else {
                match linker.module_of(ctx.env, &value) {
                    Ok(module) => resolver.resolve(module),
                    Err(error) => resolver.reject(linker.fail(ctx.env, error)),
                }
            }
            ctx.env.get_undefined()
        });
        let awaited = (|| -> napi::Result<()> {
            let helper: JsFunction = state(env)?.settle.function(env)?;
            helper.call(None, &[value, done?.into_unknown()])?;
            Ok(())
        })();
        match awaited {
            Ok(()) => self.let_go(env),
            Err(error) => {
                if let Some(resolver) = resolver.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    resolver.reject(self.fail(env, error));
                }
            }
        }
    }

    /// Stops holding Node's event loop while the resolver's answer is
    /// awaited.
    fn let_go(&self, env: &Env) {
        if let Some(hold) = self.hold.as_ref().and_then(take) {
            hold.release_on(env);
        }
    }

    /// Holds Node's event loop again, once the answer is in: the walk goes
    /// on, and the link runs on the pool.
    fn hold_again(&self, env: &Env) {
        if self.instantiated.load(Ordering::SeqCst) {
            return;
        }
        if let Some(hold) = &self.hold {
            let mut slot = hold.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(self.main.hold(env));
            }
        }
    }
}
