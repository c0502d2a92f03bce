//! `ivm.InspectorSession` (isolated-vm's `isolate.createInspectorSession()`)
//! and `ivm.InspectorServer` (ivm's `isolate.startInspectorServer()`): the
//! Chrome DevTools protocol over ivm-core's inspector. A session's messages
//! come out on the isolate's thread and are posted to Node's, where
//! `index.js`'s delivery function hands them to the session's `onResponse`
//! and `onNotification`. They travel through the environment's job queue,
//! whose thread-safe function is unreferenced while no call is in progress,
//! so an open session does not keep Node's event loop alive. They are
//! posted even from Node's own thread (where a synchronous call runs): the
//! handlers never run inside the inspector's callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ivm_core::InspectorMessage;
use napi::{Env, JsFunction};
use napi_derive::napi;

use crate::env_state::{JsHandle, state};
use crate::errors::to_napi;
use crate::host::{call_function, in_scope};
use crate::isolate::Isolate;

#[napi]
impl Isolate {
    /// `isolate.createInspectorSession()`: `deliver(message, callId)` is
    /// called on Node's thread with each response, and `deliver(message)`
    /// with each notification, until the session is disposed.
    #[napi(js_name = "_createInspectorSession", catch_unwind)]
    pub fn create_inspector_session(&self, env: Env, deliver: JsFunction) -> napi::Result<InspectorSession> {
        let main = Arc::clone(&state(&env)?.main);
        let deliver = Arc::new(JsHandle::new(env, &main, &deliver)?);
        let disposed = Arc::new(AtomicBool::new(false));
        let ended = Arc::clone(&disposed);
        let session = self.isolate.create_inspector_session(move |message| {
            let (deliver, ended) = (Arc::clone(&deliver), Arc::clone(&ended));
            let _ = main.post(Box::new(move |env| {
                // Messages still on their way when the session was disposed
                // are dropped: its handlers hear nothing after `dispose()`.
                if let Some(env) = env.filter(|_| !ended.load(Ordering::Relaxed)) {
                    in_scope(&env, |env| {
                        let _ = hand_over(env, &deliver, &message);
                    });
                }
            }));
        });
        let session = session.map_err(|e| to_napi(&env, e))?;
        Ok(InspectorSession { session, disposed })
    }

    /// `isolate.startInspectorServer(port)` (`index.js` checks it is a
    /// number).
    #[napi(js_name = "_startInspectorServer", catch_unwind)]
    pub fn start_inspector_server(&self, env: Env, port: f64) -> napi::Result<InspectorServer> {
        let port = ivm_core::numeric::port("port", port).map_err(|e| crate::errors::range_error(&env, e))?;
        let server = ivm_core::InspectorServer::start(&self.isolate, port).map_err(|e| to_napi(&env, e))?;
        Ok(InspectorServer { server })
    }
}

/// Calls `index.js`'s delivery function with `message`, on Node's thread.
fn hand_over(env: &Env, deliver: &JsHandle, message: &InspectorMessage) -> napi::Result<()> {
    let function = deliver.function(env)?;
    let text = env.create_string(message.message())?.into_unknown();
    let args = match message {
        InspectorMessage::Response { call_id, .. } => vec![text, env.create_int32(*call_id)?.into_unknown()],
        InspectorMessage::Notification { .. } => vec![text],
    };
    // A handler's exception is rethrown by `index.js` as an uncaught one,
    // so none comes back here.
    let _ = call_function(env, &function, None, &args);
    Ok(())
}

/// A DevTools protocol session with an isolate's inspector.
#[derive(Debug)]
#[napi]
pub struct InspectorSession {
    session: ivm_core::InspectorSession,
    /// Set by `dispose()`, on Node's thread, where it is also read.
    disposed: Arc<AtomicBool>,
}

#[napi]
impl InspectorSession {
    /// Sends a protocol message (`index.js` checks that it is a string);
    /// the inspector takes it on the isolate's thread.
    #[napi(js_name = "_dispatch", catch_unwind)]
    pub fn dispatch(&self, env: Env, message: String) -> napi::Result<()> {
        self.session.dispatch(message).map_err(|e| to_napi(&env, e))
    }

    /// Ends the session, resuming JavaScript it paused; a second call does
    /// nothing.
    #[napi(catch_unwind)]
    pub fn dispose(&self) {
        self.disposed.store(true, Ordering::Relaxed);
        self.session.close();
    }
}

/// A WebSocket server for DevTools on 127.0.0.1, serving one isolate's
/// inspector.
#[derive(Debug)]
#[napi]
pub struct InspectorServer {
    server: ivm_core::InspectorServer,
}

#[napi]
impl InspectorServer {
    #[napi(getter, catch_unwind)]
    pub fn port(&self) -> u32 {
        u32::from(self.server.port())
    }

    /// Where a protocol client connects: `ws://127.0.0.1:PORT/ID`.
    #[napi(getter, js_name = "webSocketUrl", catch_unwind)]
    pub fn websocket_url(&self) -> String {
        self.server.websocket_url()
    }

    /// The URL to open in Chrome to debug the isolate.
    #[napi(getter, catch_unwind)]
    pub fn devtools_url(&self) -> String {
        self.server.devtools_url()
    }

    /// Stops the server and ends its sessions (resuming JavaScript they
    /// paused); a second call does nothing.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.server.close();
    }
}
