//! `ivm.IsolatePool` and `ivm.PooledIsolate`: ivm-core's warm pool of
//! isolates (ivm's own addition; isolated-vm has none). A pool boots its
//! isolates, each with a context, ahead of time on a thread of its own; a
//! checkout takes a ready one, and a released one is disposed and replaced
//! on that thread, never reused. `index.js` names `checkoutSync` and
//! `checkout` (a Promise), and adds the `isolate` and `context` of a
//! checkout.

use std::sync::{Mutex, PoisonError};

use napi::{Env, JsObject, JsUnknown};
use napi_derive::napi;

use crate::errors::{to_napi, type_error};
use crate::forms::promise;
use crate::isolate::{Context, Isolate, isolate_options};
use crate::options::Options;
use crate::reference::instance;

#[napi]
pub struct IsolatePool {
    pool: ivm_core::IsolatePool,
}

impl std::fmt::Debug for IsolatePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.pool.fmt(f)
    }
}

#[napi]
impl IsolatePool {
    /// `new ivm.IsolatePool({ size, memoryLimit, snapshot, onCatastrophicError })`:
    /// boots `size` isolates here, before it returns, so that bad options
    /// (a snapshot that is not one, say) throw at once.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: Option<JsObject>) -> napi::Result<Self> {
        let given = Options::object(&env, options);
        let Some(size) = given.number("size")? else {
            return Err(type_error(&env, "`size` must be a number"));
        };
        let size = ivm_core::numeric::pool_size("size", size).map_err(|e| crate::errors::range_error(&env, e))?;
        let options = isolate_options(&env, &given)?;
        let pool = ivm_core::IsolatePool::new(options, size).map_err(|e| to_napi(&env, e))?;
        Ok(IsolatePool { pool })
    }

    /// How many isolates the pool keeps ready.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.pool.size()).unwrap_or(u32::MAX)
    }

    /// How many isolates are ready now.
    #[napi(getter, catch_unwind)]
    pub fn ready(&self) -> u32 {
        u32::try_from(self.pool.ready()).unwrap_or(u32::MAX)
    }

    /// A ready isolate; blocks until one is booted if none is.
    #[napi(js_name = "_checkout", catch_unwind)]
    pub fn checkout(&self, env: Env) -> napi::Result<PooledIsolate> {
        let pooled = self.pool.checkout().map_err(|e| to_napi(&env, e))?;
        Ok(PooledIsolate::new(pooled))
    }

    /// A Promise of a checkout: at once when one is ready, else when the
    /// pool has booted one (ivm-core serves waiting checkouts in order).
    #[napi(js_name = "_checkoutAsync", catch_unwind)]
    pub fn checkout_async(&self, env: Env) -> napi::Result<JsUnknown> {
        promise(&env, self.pool.checkout_async(), |env, pooled| instance(env, PooledIsolate::new(pooled)))
    }
}

/// One checkout of an `IsolatePool`. Releasing it (or its being garbage
/// collected) hands the isolate back, to be disposed and replaced.
#[napi]
pub struct PooledIsolate {
    pooled: Mutex<Option<ivm_core::PooledIsolate>>,
}

impl std::fmt::Debug for PooledIsolate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledIsolate").field("pooled", &self.pooled).finish()
    }
}

impl PooledIsolate {
    fn new(pooled: ivm_core::PooledIsolate) -> PooledIsolate {
        PooledIsolate { pooled: Mutex::new(Some(pooled)) }
    }

    fn with<T>(&self, env: &Env, f: impl FnOnce(&ivm_core::PooledIsolate) -> T) -> napi::Result<T> {
        match &*self.pooled.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(pooled) => Ok(f(pooled)),
            None => Err(to_napi(env, ivm_core::Error::Released("The pooled isolate has been released"))),
        }
    }
}

#[napi]
impl PooledIsolate {
    /// The checkout's isolate, as an `ivm.Isolate` (`index.js` keeps one).
    #[napi(js_name = "_isolate", catch_unwind)]
    pub fn isolate(&self, env: Env) -> napi::Result<Isolate> {
        self.with(&env, |pooled| Isolate { isolate: pooled.isolate().clone() })
    }

    /// The checkout's context, as an `ivm.Context` (`index.js` keeps one).
    #[napi(js_name = "_context", catch_unwind)]
    pub fn context(&self, env: Env) -> napi::Result<Context> {
        self.with(&env, |pooled| Context { context: pooled.context().clone() })
    }

    /// Hands the isolate back to its pool; a second call does nothing.
    #[napi(catch_unwind)]
    pub fn release(&self) {
        let pooled = self.pooled.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(pooled);
    }

    #[napi(getter, catch_unwind)]
    pub fn is_released(&self) -> bool {
        self.pooled.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}
