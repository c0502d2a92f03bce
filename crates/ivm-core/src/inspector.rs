//! The Chrome DevTools inspector: V8's inspector attached to an isolate made
//! with [`IsolateOptions::inspector`](crate::IsolateOptions::inspector),
//! sessions that carry the protocol's messages to it from any thread, and
//! (in `server`) a WebSocket server that DevTools connects to.
//!
//! V8's inspector lives on the thread that holds the isolate's lock, like
//! everything else of the isolate. A session's messages therefore wait in
//! the isolate's [`Inbox`] until that thread takes them, which it does at
//! the first of three chances:
//! - while JavaScript runs, in an interrupt V8 runs between statements;
//! - while the isolate is idle, in a task on its strand;
//! - while JavaScript is paused (a breakpoint, `debugger`, a step), in the
//!   pause loop, which waits on the inbox until the session resumes.
//!
//! The inspector's answers go back through each session's sink, called on
//! the isolate's thread.

mod server;

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use v8::UniquePtr;
use v8::inspector::{
    Channel, ChannelImpl, StringBuffer, StringView, V8Inspector, V8InspectorClient, V8InspectorClientImpl,
    V8InspectorClientTrustLevel, V8InspectorSession,
};

pub use server::InspectorServer;

use crate::{Error, Isolate, Result};

/// The one context group of an isolate: its inspected contexts are all in
/// it, and every session sees them all.
const CONTEXT_GROUP: i32 = 1;

/// How often the pause loop looks whether the paused call must stop (its
/// timeout passed, the isolate was disposed) while no message arrives.
const PAUSE_CHECK: Duration = Duration::from_millis(10);

/// A message from the inspector to a session's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectorMessage {
    /// The answer to the request whose `id` was `call_id`.
    Response { call_id: i32, message: String },
    /// An event (`Debugger.paused`, `Runtime.consoleAPICalled`, …).
    Notification { message: String },
}

impl InspectorMessage {
    /// The protocol message itself, a JSON object.
    pub fn message(&self) -> &str {
        match self {
            InspectorMessage::Response { message, .. } | InspectorMessage::Notification { message } => message,
        }
    }
}

type Sink = Arc<dyn Fn(InspectorMessage) + Send + Sync>;

enum Command {
    Connect { session: u64, sink: Sink },
    Dispatch { session: u64, message: String },
    Disconnect { session: u64 },
}

/// Where sessions' commands wait for the isolate's thread. Shared by the
/// isolate's handle (which fills it from any thread) and its inspector
/// (which empties it on the isolate's thread).
#[derive(Default)]
pub(crate) struct Inbox {
    commands: Mutex<VecDeque<Command>>,
    arrived: Condvar,
}

impl Inbox {
    fn push(&self, command: Command) {
        self.commands.lock().unwrap_or_else(PoisonError::into_inner).push_back(command);
        self.arrived.notify_all();
    }

    fn pop(&self) -> Option<Command> {
        self.commands.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }

    /// The next command, waiting for one at most `wait`.
    fn pop_waiting(&self, wait: Duration) -> Option<Command> {
        let commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut commands, _) = self
            .arrived
            .wait_timeout_while(commands, wait, |commands| commands.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        commands.pop_front()
    }
}

/// The isolate's inspector and its sessions, kept in a slot of the V8
/// isolate and used only by the thread that holds its lock.
struct Agent {
    inbox: Arc<Inbox>,
    /// Declared before `inspector`: sessions must end before it does.
    sessions: RefCell<HashMap<u64, Rc<V8InspectorSession>>>,
    /// Whether JavaScript is paused in the pause loop.
    paused: Cell<bool>,
    /// How many protocol messages are being dispatched on the stack now.
    dispatching: Cell<usize>,
    /// ivm's own session, the CPU profiler's (`profiler.rs`). Declared
    /// before `inspector` too.
    own: OnceCell<OwnSession>,
    inspector: OnceCell<V8Inspector>,
}

struct AgentSlot(Rc<Agent>);

// SAFETY: the agent (V8's inspector, its sessions, and their `Rc`s) is
// reached only through the V8 isolate's slot or the inspector's own
// callbacks, so only by the thread that holds the isolate's `Locker`: the
// isolate moves between threads, its agent is never used by two at once.
unsafe impl Send for AgentSlot {}

/// Attaches V8's inspector to a new isolate; its sessions' commands will
/// arrive in the returned inbox.
pub(crate) fn attach(isolate: &mut v8::Isolate) -> Arc<Inbox> {
    attach_agent(isolate).inbox.clone()
}

fn attach_agent(isolate: &mut v8::Isolate) -> Rc<Agent> {
    let agent = Rc::new(Agent {
        inbox: Arc::new(Inbox::default()),
        sessions: RefCell::default(),
        paused: Cell::new(false),
        dispatching: Cell::new(0),
        own: OnceCell::new(),
        inspector: OnceCell::new(),
    });
    // SAFETY: the pointer is used only by the client's pause loop, which V8
    // calls on the thread that holds this isolate's lock, while it lives.
    let pointer = unsafe { isolate.as_raw_isolate_ptr() };
    let client = V8InspectorClient::new(Box::new(Client { agent: Rc::downgrade(&agent), isolate: pointer }));
    let _ = agent.inspector.set(V8Inspector::create(isolate, client));
    isolate.set_slot(AgentSlot(Rc::clone(&agent)));
    agent
}

fn agent(isolate: &v8::Isolate) -> Option<Rc<Agent>> {
    isolate.get_slot::<AgentSlot>().map(|slot| Rc::clone(&slot.0))
}

/// Shows `context` to the isolate's inspector under `name`, with `origin`
/// if it has one, if the isolate has an inspector. `default` marks the
/// context DevTools' console evaluates in.
pub(crate) fn context_created(
    isolate: &v8::Isolate,
    context: v8::Local<'_, v8::Context>,
    name: &str,
    origin: Option<&str>,
    default: bool,
) {
    let Some(agent) = agent(isolate) else { return };
    let Some(inspector) = agent.inspector.get() else { return };
    let name = utf16(name);
    // V8 takes no origin through the v8 crate: it rides in the auxiliary
    // data, from which `with_origin` moves it into its place.
    let mut aux = serde_json::json!({ "isDefault": default });
    if let Some(origin) = origin {
        aux["origin"] = origin.into();
    }
    let aux = aux.to_string();
    inspector.context_created(context, CONTEXT_GROUP, StringView::from(&name[..]), StringView::from(aux.as_bytes()));
}

/// `message` with a created context's origin where the protocol has it
/// (`Runtime.executionContextCreated`'s `context.origin`), moved there from
/// the auxiliary data `context_created` put it in.
fn with_origin(message: String) -> String {
    // V8 writes a notification's method first: the rest (heap snapshot
    // chunks among them) need not be scanned.
    if !message.starts_with(r#"{"method":"Runtime.executionContextCreated""#) {
        return message;
    }
    let Ok(mut event) = serde_json::from_str::<serde_json::Value>(&message) else { return message };
    let context = &mut event["params"]["context"];
    let Some(origin) = context["auxData"].as_object_mut().and_then(|aux| aux.remove("origin")) else { return message };
    context["origin"] = origin;
    event.to_string()
}

/// Runs the commands waiting in the inbox, on the thread that holds the
/// isolate's lock. Skipped inside a dispatch (a message's JavaScript being
/// interrupted) and while paused, where the pause loop takes them in turn.
pub(crate) fn drain(isolate: &mut v8::Isolate) {
    let Some(agent) = agent(isolate) else { return };
    if agent.dispatching.get() > 0 || agent.paused.get() {
        return;
    }
    while let Some(command) = agent.inbox.pop() {
        agent.run(isolate, command);
    }
    // Some commands finish in a task V8 posts for when the stack is empty
    // (HeapProfiler.takeHeapSnapshot).
    crate::platform::run_posted_tasks(isolate);
}

/// V8 runs this between statements of running JavaScript after a session
/// queued a message.
unsafe extern "C" fn on_interrupt(isolate: v8::UnsafeRawIsolatePtr, _data: *mut std::ffi::c_void) {
    // SAFETY: V8 calls interrupts on the thread that holds the isolate's
    // lock, with the isolate entered.
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(isolate) };
    drain(&mut isolate);
}

impl Agent {
    fn run(&self, isolate: &mut v8::Isolate, command: Command) {
        match command {
            Command::Connect { session, sink } => {
                let Some(inspector) = self.inspector.get() else { return };
                let channel = Channel::new(Box::new(SessionChannel(sink)));
                let connected = inspector.connect(
                    CONTEXT_GROUP,
                    channel,
                    StringView::empty(),
                    V8InspectorClientTrustLevel::FullyTrusted,
                );
                self.sessions.borrow_mut().insert(session, Rc::new(connected));
            }
            Command::Dispatch { session, message } => {
                // The session is cloned out: the message's JavaScript may
                // pause, and the pause loop runs further commands (even this
                // session's disconnection) before this dispatch returns.
                let Some(connected) = self.sessions.borrow().get(&session).cloned() else { return };
                self.dispatching.set(self.dispatching.get() + 1);
                {
                    v8::scope!(let _scope, isolate);
                    let message = utf16(&message);
                    connected.dispatch_protocol_message(StringView::from(&message[..]));
                }
                self.dispatching.set(self.dispatching.get() - 1);
            }
            Command::Disconnect { session } => {
                // Taken out before it is dropped: ending a session resumes
                // paused JavaScript, which calls back into the agent.
                let ended = self.sessions.borrow_mut().remove(&session);
                drop(ended);
            }
        }
    }
}

struct Client {
    agent: Weak<Agent>,
    isolate: v8::UnsafeRawIsolatePtr,
}

impl V8InspectorClientImpl for Client {
    /// JavaScript paused: serve the sessions until one resumes it, the
    /// paused call must end (its timeout, cancellation, disposal), or the
    /// last session leaves (which resumes it too).
    fn run_message_loop_on_pause(&self, _context_group_id: i32) {
        let Some(agent) = self.agent.upgrade() else { return };
        if agent.paused.replace(true) {
            return;
        }
        // SAFETY: V8 calls this on the thread that holds the isolate's lock,
        // with the isolate entered, from inside the paused JavaScript.
        let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(self.isolate) };
        let owner = Isolate::of(&isolate);
        while agent.paused.get() {
            if owner.as_ref().is_none_or(Isolate::must_stop) {
                break;
            }
            if let Some(command) = agent.inbox.pop_waiting(PAUSE_CHECK) {
                agent.run(&mut isolate, command);
                crate::platform::run_posted_tasks(&isolate);
            }
        }
        agent.paused.set(false);
    }

    fn quit_message_loop_on_pause(&self) {
        if let Some(agent) = self.agent.upgrade() {
            agent.paused.set(false);
        }
    }
}

/// A session ivm holds with the isolate's inspector for itself, not for a
/// client: the CPU profiler's, which speaks the protocol's `Profiler`
/// domain because the v8 crate has no binding of V8's `CpuProfiler`.
struct OwnSession {
    session: V8InspectorSession,
    /// The response to the request being dispatched: V8 answers the
    /// `Profiler` domain's requests before `dispatch` returns.
    response: Arc<Mutex<Option<String>>>,
    next_id: Cell<i32>,
}

/// Sends `method` with `params` over ivm's own session with the isolate's
/// inspector (attaching V8's inspector to an isolate made without one,
/// and connecting the session, on first use) and returns the response's
/// `result`, or `None` if the inspector answered with an error.
pub(crate) fn own_call(
    isolate: &mut v8::Isolate,
    method: &str,
    params: serde_json::Value,
) -> Option<serde_json::Value> {
    let agent = match agent(isolate) {
        Some(agent) => agent,
        None => attach_agent(isolate),
    };
    let inspector = agent.inspector.get()?;
    let own = agent.own.get_or_init(|| {
        let response: Arc<Mutex<Option<String>>> = Arc::default();
        let slot = Arc::clone(&response);
        let sink: Sink = Arc::new(move |message| {
            if let InspectorMessage::Response { message, .. } = message {
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(message);
            }
        });
        let channel = Channel::new(Box::new(SessionChannel(sink)));
        let session =
            inspector.connect(CONTEXT_GROUP, channel, StringView::empty(), V8InspectorClientTrustLevel::FullyTrusted);
        OwnSession { session, response, next_id: Cell::new(1) }
    });
    let id = own.next_id.get();
    own.next_id.set(id + 1);
    let request = serde_json::json!({ "id": id, "method": method, "params": params }).to_string();
    {
        v8::scope!(let _scope, isolate);
        let request = utf16(&request);
        own.session.dispatch_protocol_message(StringView::from(&request[..]));
    }
    let response = own.response.lock().unwrap_or_else(PoisonError::into_inner).take()?;
    let mut response: serde_json::Value = serde_json::from_str(&response).ok()?;
    response.get_mut("result").map(serde_json::Value::take)
}

/// Hands a session's messages to its sink.
struct SessionChannel(Sink);

impl SessionChannel {
    fn send(&self, message: InspectorMessage) {
        // A panicking sink must not unwind into V8.
        let _ = catch_unwind(AssertUnwindSafe(|| (self.0)(message)));
    }
}

impl ChannelImpl for SessionChannel {
    fn send_response(&self, call_id: i32, message: UniquePtr<StringBuffer>) {
        self.send(InspectorMessage::Response { call_id, message: text(&message) });
    }

    fn send_notification(&self, message: UniquePtr<StringBuffer>) {
        self.send(InspectorMessage::Notification { message: with_origin(text(&message)) });
    }

    fn flush_protocol_notifications(&self) {}
}

fn text(buffer: &UniquePtr<StringBuffer>) -> String {
    let Some(buffer) = buffer.as_ref() else { return String::new() };
    let view = buffer.string();
    if let Some(latin1) = view.characters8() {
        latin1.iter().map(|&byte| char::from(byte)).collect()
    } else if let Some(utf16) = view.characters16() {
        String::from_utf16_lossy(utf16)
    } else {
        String::new()
    }
}

/// V8 takes 8-bit string views as Latin-1, so text goes in as UTF-16.
fn utf16(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// A Chrome DevTools protocol session with an isolate's inspector, as
/// isolated-vm's `createInspectorSession()`.
///
/// Messages go in with [`dispatch`](Self::dispatch) from any thread; the
/// inspector's responses and events come out through the sink given to
/// [`Isolate::create_inspector_session`], called on the isolate's thread (so
/// the sink must not wait for the isolate). Dropping the session or calling
/// [`close`](Self::close) ends it, which resumes JavaScript it paused.
pub struct InspectorSession {
    isolate: Isolate,
    inbox: Arc<Inbox>,
    id: u64,
    closed: AtomicBool,
}

impl fmt::Debug for InspectorSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InspectorSession").field("id", &self.id).field("closed", &self.is_closed()).finish()
    }
}

impl Isolate {
    /// Opens a DevTools protocol session with this isolate's inspector. The
    /// isolate must have been made with
    /// [`IsolateOptions::inspector`](crate::IsolateOptions::inspector); its
    /// contexts are inspected when made with
    /// [`ContextOptions::inspector`](crate::ContextOptions::inspector).
    pub fn create_inspector_session(
        &self,
        on_message: impl Fn(InspectorMessage) + Send + Sync + 'static,
    ) -> Result<InspectorSession> {
        let inbox = self.inspector_inbox()?;
        let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        inbox.push(Command::Connect { session: id, sink: Arc::new(on_message) });
        self.wake_inspector();
        Ok(InspectorSession { isolate: self.clone(), inbox, id, closed: AtomicBool::new(false) })
    }

    /// Where the isolate's inspector takes its sessions' messages: an
    /// error if it is disposed or was made without an inspector.
    pub(crate) fn inspector_inbox(&self) -> Result<Arc<Inbox>> {
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        self.inner.inspector.clone().ok_or_else(|| {
            Error::InvalidArgument("Inspector is not enabled for this isolate (create it with `inspector`)".into())
        })
    }

    /// Gets the isolate's thread to the inbox: an interrupt reaches running
    /// JavaScript, a task an idle isolate, and the inbox's condition
    /// variable (already notified) a paused one.
    fn wake_inspector(&self) {
        self.inner.terminator.request_interrupt(on_interrupt, std::ptr::null_mut());
        let isolate = self.clone();
        self.spawn(move || {
            let _ = isolate.with_locker(|isolate| {
                drain(isolate);
                Ok(())
            });
        });
    }
}

impl InspectorSession {
    /// Sends a protocol message (a JSON request such as
    /// `{"id":1,"method":"Debugger.enable"}`) to the inspector. Messages are
    /// taken in the order they were sent.
    pub fn dispatch(&self, message: impl Into<String>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Released("InspectorSession has been released"));
        }
        if self.isolate.is_disposed() {
            return Err(Error::Disposed);
        }
        self.inbox.push(Command::Dispatch { session: self.id, message: message.into() });
        self.isolate.wake_inspector();
        Ok(())
    }

    /// Ends the session; JavaScript it paused resumes. Closing twice is
    /// harmless.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inbox.push(Command::Disconnect { session: self.id });
        if !self.isolate.is_disposed() {
            self.isolate.wake_inspector();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The isolate this session inspects.
    pub fn isolate(&self) -> &Isolate {
        &self.isolate
    }
}

impl Drop for InspectorSession {
    fn drop(&mut self) {
        self.close();
    }
}
