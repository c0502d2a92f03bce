//! `ivm.Reference` and `ivm.Callback`. A Reference points either at a value
//! in an ivm isolate (made by `context.global`, `get`, `apply`, …) or, made
//! with `new ivm.Reference(value, { unsafeInherit, accessors })` in Node, at
//! a Node value, whose operations follow ivm-core's host rule (`_host…`
//! here, on Node's thread; `index.js` gives them their forms).

use std::cell::Cell;
use std::sync::Arc;

use ivm_core::host::{self, Access, Grant};
use ivm_core::{Async, RunOptions, SyncFollowing, Transferable, Value};
use napi::bindgen_prelude::{FromNapiRef, ToNapiValue};
use napi::{Env, JsObject, JsUnknown, NapiValue};
use napi_derive::napi;

use crate::convert::raw;
use crate::convert::{ResultMode, js_to_transferable, js_to_value, structured_to_js, transferable_to_js};

use crate::errors::{internal, to_napi, type_error};
use crate::forms::{Form, Queue, run, run_returning, undefined};
use crate::host::{CallbackKind, Handle, HostFunction, NodeObjects, NodeValue, function_from};
use crate::options::Options;

/// Unwraps an instance of one of the addon's classes.
///
/// # Safety
/// `value` must be an instance of `T`'s class (checked with `instance_of`).
pub(crate) unsafe fn unwrap<T: FromNapiRef + 'static>(env: &Env, value: &JsUnknown) -> napi::Result<&'static T> {
    // SAFETY: the caller checked the class; napi_unwrap fails cleanly on an
    // object that merely inherits the prototype.
    unsafe { T::from_napi_ref(env.raw(), raw(&value)) }
}

/// A new instance of one of the addon's classes, as a plain value.
pub(crate) fn instance<T: ToNapiValue>(env: &Env, value: T) -> napi::Result<JsUnknown> {
    // SAFETY: `to_napi_value` returns a live value of `env`.
    unsafe { Ok(JsUnknown::from_raw_unchecked(env.raw(), T::to_napi_value(env.raw(), value)?)) }
}

/// The elements of an array `index.js` passed.
pub(crate) fn array_items(array: &JsObject) -> napi::Result<Vec<JsUnknown>> {
    let length = array.get_array_length()?;
    (0..length).map(|index| array.get_element::<JsUnknown>(index)).collect()
}

/// An array of values `index.js` prepared for passing into an isolate.
pub(crate) fn transferables(env: &Env, array: &JsObject) -> napi::Result<Vec<Transferable>> {
    let length = array.get_array_length()?;
    (0..length).map(|index| js_to_transferable(env, array.get_element::<JsUnknown>(index)?)).collect()
}

#[derive(Debug)]
enum Target {
    Isolate(ivm_core::Reference),
    Host(Arc<NodeValue>),
}

/// A Reference's `typeof` of a Node value, as isolated-vm gives it:
/// JavaScript's, except that `null` is "null" and symbols and bigints are
/// "object".
pub(crate) fn type_of(value: &JsUnknown) -> napi::Result<&'static str> {
    Ok(match value.get_type()? {
        napi::ValueType::Undefined => "undefined",
        napi::ValueType::Null => "null",
        napi::ValueType::Boolean => "boolean",
        napi::ValueType::Number => "number",
        napi::ValueType::String => "string",
        napi::ValueType::Function => "function",
        _ => "object",
    })
}

#[derive(Debug)]
#[napi]
pub struct Reference {
    target: Target,
    /// Made by `derefInto()`: passed into its own isolate, this is the
    /// value, once.
    marker: Option<Cell<bool>>,
    /// `release()` was called (a Reference into an isolate knows it from
    /// its handle).
    released: Cell<bool>,
}

/// What a second use of `derefInto()`'s result says.
const DEREF_ONCE: &str = "The return value of `derefInto()` should only be used once";

impl Reference {
    fn of(target: Target) -> Reference {
        Reference { target, marker: None, released: Cell::new(false) }
    }

    fn marker(target: Target) -> Reference {
        Reference { target, marker: Some(Cell::new(false)), released: Cell::new(false) }
    }

    pub(crate) fn isolate(reference: ivm_core::Reference) -> Reference {
        Reference::of(Target::Isolate(reference))
    }

    /// The Reference for a value that left an isolate as the remote value
    /// one of its `Reference` objects stands for.
    pub(crate) fn from_any(any: Arc<dyn std::any::Any + Send + Sync>) -> napi::Result<Reference> {
        let target = match any.downcast::<NodeValue>() {
            Ok(value) => Target::Host(value),
            Err(any) => match any.downcast::<ivm_core::Reference>() {
                Ok(reference) => Target::Isolate((*reference).clone()),
                Err(_) => return Err(internal("a Reference to a value held by another host cannot reach Node")),
            },
        };
        Ok(Reference::of(target))
    }

    pub(crate) fn into_js(self, env: &Env) -> napi::Result<JsUnknown> {
        instance(env, self)
    }

    /// Throws "Reference has been released" once `release()` was called.
    fn check_live(&self, env: &Env) -> napi::Result<()> {
        if self.released.get() {
            return Err(to_napi(env, ivm_core::Error::Released("Reference has been released")));
        }
        Ok(())
    }

    pub(crate) fn in_isolate(&self) -> napi::Result<&ivm_core::Reference> {
        match &self.target {
            Target::Isolate(reference) => Ok(reference),
            Target::Host(_) => Err(internal("This operation is done by `_host…` for References to Node values")),
        }
    }

    fn in_node(&self, env: &Env) -> napi::Result<&Arc<NodeValue>> {
        self.check_live(env)?;
        match &self.target {
            Target::Host(value) => Ok(value),
            Target::Isolate(_) => Err(internal("`_host…` is for References to Node values")),
        }
    }

    /// What passing this Reference into an isolate passes. `derefInto()`'s
    /// result is used up by it, even when it fails.
    pub(crate) fn transferable(&self, env: &Env) -> napi::Result<Transferable> {
        if let Some(used) = &self.marker {
            if used.replace(true) {
                return Err(to_napi(env, ivm_core::Error::InvalidArgument(DEREF_ONCE.into())));
            }
            return match &self.target {
                // Into its own isolate it is the value.
                Target::Isolate(reference) => Ok(Transferable::Reference(reference.clone())),
                Target::Host(_) => Err(type_error(env, "Cannot dereference this into target isolate")),
            };
        }
        self.check_live(env)?;
        match &self.target {
            Target::Isolate(reference) => Ok(Transferable::Remote(Arc::new(reference.clone()))),
            Target::Host(value) => Ok(Transferable::Remote(Arc::clone(value) as Arc<dyn ivm_core::Remote>)),
        }
    }
}

/// The grant `new ivm.Reference(value, options)` asks for: `unsafeInherit`
/// and `accessors`, booleans when given (isolated-vm's checks and messages).
fn grant_of(env: &Env, options: Option<JsUnknown>) -> napi::Result<Grant> {
    let options = match options {
        Some(options) if options.get_type()? == napi::ValueType::Object => options.coerce_to_object()?,
        Some(options) if !matches!(options.get_type()?, napi::ValueType::Undefined | napi::ValueType::Null) => {
            return Err(type_error(env, "`Reference` requires parameter 2 to be an object"));
        }
        _ => return Ok(Grant::new()),
    };
    let flag = |name: &str| -> napi::Result<bool> {
        let value: JsUnknown = options.get_named_property(name)?;
        match value.get_type()? {
            napi::ValueType::Undefined => Ok(false),
            napi::ValueType::Boolean => value.coerce_to_bool()?.get_value(),
            _ => Err(type_error(env, format!("`{name}` must be a boolean"))),
        }
    };
    Ok(Grant::new().unsafe_inherit(flag("unsafeInherit")?).accessors(flag("accessors")?))
}

/// A refused or failed operation on a Node value, thrown in Node: a
/// refusal as isolated-vm's TypeError, a Node exception as itself.
fn host_error(env: &Env, access: Access<napi::Error>) -> napi::Error {
    match access {
        Access::Refused(refusal) => type_error(env, refusal.to_string()),
        Access::Host(error) => error,
    }
}

fn key_value(env: &Env, key: &JsUnknown) -> napi::Result<Value> {
    js_to_value(env, key)?.ok_or_else(|| type_error(env, ivm_core::host::Refusal::InvalidKey.to_string()))
}

#[napi]
impl Reference {
    /// `new ivm.Reference(value, options)`: a Reference to a Node value.
    /// `unsafeInherit` (isolated-vm's) lets it read what the value inherits,
    /// `accessors` (ivm's) lets it run getters; both are off by default.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, value: JsUnknown, options: Option<JsUnknown>) -> napi::Result<Self> {
        let grant = grant_of(&env, options)?;
        Ok(Reference::of(Target::Host(NodeValue::new(env, &value, grant)?)))
    }

    #[napi(getter, js_name = "typeof", catch_unwind)]
    pub fn type_of(&self, env: Env) -> napi::Result<String> {
        self.check_live(&env)?;
        match &self.target {
            Target::Isolate(reference) => Ok(reference.type_of().map_err(|e| to_napi(&env, e))?.to_owned()),
            Target::Host(value) => Ok(ivm_core::Remote::type_of(value.as_ref())),
        }
    }

    /// The Node value of a Reference made in Node, or `undefined` with
    /// `has` false for one into an isolate.
    #[napi(js_name = "_hostValue", catch_unwind)]
    pub fn host_value(&self, env: Env) -> napi::Result<JsUnknown> {
        self.check_live(&env)?;
        match &self.target {
            Target::Host(value) => value.get(&env),
            Target::Isolate(_) => undefined(&env),
        }
    }

    #[napi(getter, js_name = "_isHost", catch_unwind)]
    pub fn is_host(&self) -> bool {
        matches!(self.target, Target::Host(_))
    }

    /// `get` on a Node value, from Node, under the Reference's grant (or
    /// with `accessors`, which Node may ask for itself, as in isolated-vm).
    #[napi(js_name = "_hostGet", catch_unwind)]
    pub fn host_get(&self, env: Env, key: JsUnknown, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let (node, objects) = (self.in_node(&env)?, &mut NodeObjects::new(&env));
        let given = Options::of(&env, options, "options")?;
        let mode = given.result_mode(ResultMode::OrReference)?;
        let grant = if given.truthy("accessors")? { node.grant.accessors(true) } else { node.grant };
        let key = key_value(&env, &key)?;
        let target = Handle::of(&node.get(&env)?);
        let Some(value) = host::get(objects, &target, &key, grant).map_err(|access| host_error(&env, access))? else {
            return undefined(&env);
        };
        let left =
            host::leave(objects, value, mode.as_asked(), node.grant).map_err(|access| host_error(&env, access))?;
        transferable_to_js(&env, left, mode)
    }

    /// `set` on a Node value, from Node.
    #[napi(js_name = "_hostSet", catch_unwind)]
    pub fn host_set(&self, env: Env, key: JsUnknown, value: JsUnknown) -> napi::Result<()> {
        let node = self.in_node(&env)?;
        let key = key_value(&env, &key)?;
        let target = Handle::of(&node.get(&env)?);
        host::set(&mut NodeObjects::new(&env), &target, &key, Handle::of(&value), node.grant)
            .map_err(|access| host_error(&env, access))?;
        Ok(())
    }

    /// `delete` on a Node value, from Node.
    #[napi(js_name = "_hostDelete", catch_unwind)]
    pub fn host_delete(&self, env: Env, key: JsUnknown) -> napi::Result<()> {
        let node = self.in_node(&env)?;
        let key = key_value(&env, &key)?;
        let target = Handle::of(&node.get(&env)?);
        host::delete(&mut NodeObjects::new(&env), &target, &key, node.grant)
            .map_err(|access| host_error(&env, access))?;
        Ok(())
    }

    /// `apply` on a Node value, from Node.
    #[napi(js_name = "_hostApply", catch_unwind)]
    pub fn host_apply(
        &self,
        env: Env,
        receiver: JsUnknown,
        arguments: JsObject,
        options: Option<JsUnknown>,
    ) -> napi::Result<JsUnknown> {
        let (node, objects) = (self.in_node(&env)?, &mut NodeObjects::new(&env));
        let result = Options::of(&env, options, "options")?.options("result")?;
        let mode = result.result_mode(ResultMode::OrReference)?;
        let target = Handle::of(&node.get(&env)?);
        let arguments = array_items(&arguments)?.iter().map(Handle::of).collect();
        let returned = host::apply(objects, &target, Handle::of(&receiver), arguments)
            .map_err(|access| host_error(&env, access))?;
        let left =
            host::leave(objects, returned, mode.as_asked(), node.grant).map_err(|access| host_error(&env, access))?;
        transferable_to_js(&env, left, mode)
    }

    /// What `derefInto()` returns: a handle of its own, so that releasing
    /// this Reference does not release it.
    #[napi(js_name = "_derefInto", catch_unwind)]
    pub fn deref_into(&self, env: Env) -> napi::Result<Reference> {
        self.check_live(&env)?;
        match &self.target {
            Target::Isolate(reference) => {
                let reference = reference.duplicate().map_err(|e| to_napi(&env, e))?;
                Ok(Reference::marker(Target::Isolate(reference)))
            }
            // Refused where it is used, as isolated-vm refuses it.
            Target::Host(value) => Ok(Reference::marker(Target::Host(Arc::clone(value)))),
        }
    }

    /// `get(key, { timeout, accessors, promise, …TransferOptions })`.
    #[napi(js_name = "_get", catch_unwind)]
    pub fn get(&self, env: Env, key: JsUnknown, form: u32, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let reference = self.in_isolate()?;
        let key = key_value(&env, &key)?;
        let given = Options::of(&env, options, "options")?;
        let (options, mode) = given.run(ResultMode::OrReference)?;
        let options = options.accessors(given.truthy("accessors")?);
        run(
            &env,
            Form::from_code(form)?,
            || reference.get(key.clone(), &options),
            || reference.get_async(key.clone(), options.clone()),
            move |env, value| transferable_to_js(env, value, mode),
        )
    }

    /// `set(key, value, { timeout })`, with the value as `index.js`
    /// prepared it for the isolate.
    #[napi(js_name = "_set", catch_unwind)]
    pub fn set(
        &self,
        env: Env,
        key: JsUnknown,
        value: JsUnknown,
        form: u32,
        options: Option<JsUnknown>,
    ) -> napi::Result<JsUnknown> {
        let reference = self.in_isolate()?;
        let key = key_value(&env, &key)?;
        let value = js_to_transferable(&env, value)?;
        let options = Options::of(&env, options, "options")?.timed(RunOptions::new())?;
        run(
            &env,
            Form::from_code(form)?,
            || reference.set(key.clone(), value.clone(), &options),
            || reference.set_async(key.clone(), value.clone(), options.clone()),
            // isolated-vm's set and delete give `undefined`.
            |env, _| undefined(env),
        )
    }

    #[napi(js_name = "_delete", catch_unwind)]
    pub fn delete(&self, env: Env, key: JsUnknown, form: u32) -> napi::Result<JsUnknown> {
        let reference = self.in_isolate()?;
        let key = key_value(&env, &key)?;
        run(
            &env,
            Form::from_code(form)?,
            || reference.delete(key.clone(), &RunOptions::new()),
            || reference.delete_async(key.clone(), RunOptions::new()),
            // isolated-vm's set and delete give `undefined`.
            |env, _| undefined(env),
        )
    }

    /// `apply(receiver, arguments, { timeout, result: { promise,
    /// …TransferOptions } })`, with the receiver and arguments as `index.js`
    /// prepared them for the isolate.
    #[napi(js_name = "_apply", catch_unwind)]
    pub fn apply(
        &self,
        env: Env,
        receiver: JsUnknown,
        arguments: JsObject,
        form: u32,
        options: Option<JsUnknown>,
    ) -> napi::Result<JsUnknown> {
        let reference = self.in_isolate()?;
        let receiver = js_to_transferable(&env, receiver)?;
        let arguments = transferables(&env, &arguments)?;
        let given = Options::of(&env, options, "options")?;
        let (options, mode) = given.call(ResultMode::OrReference)?;
        run_returning(
            &env,
            Form::from_code(form)?,
            options.promise,
            || reference.apply(receiver.clone(), &arguments, &options),
            |queue| match queue {
                Queue::Async => reference.apply_queued::<Async>(receiver.clone(), arguments.clone(), options.clone()),
                Queue::SyncFollowing => {
                    reference.apply_queued::<SyncFollowing>(receiver.clone(), arguments.clone(), options.clone())
                }
            },
            move |env, value| transferable_to_js(env, value, mode),
        )
    }

    #[napi(js_name = "_copy", catch_unwind)]
    pub fn copy(&self, env: Env, form: u32) -> napi::Result<JsUnknown> {
        let reference = self.in_isolate()?;
        run(
            &env,
            Form::from_code(form)?,
            || reference.copy(),
            || reference.copy_async(),
            |env, copy| structured_to_js(env, &copy),
        )
    }

    /// Lets go of the value; later uses fail, a second release included.
    #[napi(catch_unwind)]
    pub fn release(&self, env: Env) -> napi::Result<()> {
        self.check_live(&env)?;
        if let Target::Isolate(reference) = &self.target {
            reference.type_of().map_err(|e| to_napi(&env, e))?;
            reference.release();
        }
        self.released.set(true);
        Ok(())
    }
}

/// `new ivm.Callback(fn, { async, ignored })`: a Node function that isolates
/// can call.
#[derive(Debug)]
#[napi]
pub struct Callback {
    pub(crate) callback: ivm_core::Callback,
}

#[napi]
impl Callback {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, function: JsUnknown, options: Option<JsObject>) -> napi::Result<Self> {
        let function = function_from(&env, function)?;
        let flag = |name: &str| -> napi::Result<bool> {
            match &options {
                Some(options) if options.has_named_property(name)? => {
                    Ok(options.get_named_property::<JsUnknown>(name)?.coerce_to_bool()?.get_value()?)
                }
                _ => Ok(false),
            }
        };
        let kind = match (flag("async")?, flag("ignored")?, flag("sync")?) {
            (true, false, false) => CallbackKind::Async,
            (false, true, false) => CallbackKind::Ignored,
            (false, false, _) => CallbackKind::Sync,
            _ => return Err(type_error(&env, "Only one of `async`, `ignored` or `sync` may be set")),
        };
        let host: Arc<HostFunction> = HostFunction::new(env, &function)?;
        Ok(Callback { callback: host.callback(kind) })
    }
}
