//! The inspector: DevTools protocol sessions that pause at breakpoints,
//! step, read variables, see console messages and take heap snapshots,
//! through the session API and through the WebSocket server with a real
//! WebSocket client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures_executor::block_on;
use ivm::{
    CompileOptions, Context, ContextOptions, Error, EvalOptions, InspectorServer, InspectorSession, Isolate,
    IsolateOptions, RunOptions, ScriptOrigin, Value,
};
use serde_json::{Value as Json, json};

const WAIT: Duration = Duration::from_secs(20);

fn inspected() -> (Isolate, Context) {
    let isolate = Isolate::new(IsolateOptions::new().inspector(true)).unwrap();
    let context = isolate.create_context_with(&ContextOptions::new().inspector(true).name("main")).unwrap();
    (isolate, context)
}

/// Carries protocol messages to and from the inspector.
trait Transport {
    fn send(&mut self, message: String);
    fn receive(&mut self, until: Instant) -> Option<String>;
}

struct Direct {
    session: InspectorSession,
    messages: mpsc::Receiver<String>,
}

impl Direct {
    fn open(isolate: &Isolate) -> Direct {
        let (sender, messages) = mpsc::channel();
        let session = isolate
            .create_inspector_session(move |message| {
                let _ = sender.send(message.message().to_owned());
            })
            .unwrap();
        Direct { session, messages }
    }
}

impl Transport for Direct {
    fn send(&mut self, message: String) {
        self.session.dispatch(message).unwrap();
    }

    fn receive(&mut self, until: Instant) -> Option<String> {
        self.messages.recv_timeout(until.saturating_duration_since(Instant::now())).ok()
    }
}

struct Socket(tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>);

impl Socket {
    fn connect(url: &str) -> Socket {
        let (socket, _) = tungstenite::connect(url).unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        Socket(socket)
    }
}

impl Transport for Socket {
    fn send(&mut self, message: String) {
        self.0.send(tungstenite::Message::text(message)).unwrap();
    }

    fn receive(&mut self, until: Instant) -> Option<String> {
        while Instant::now() < until {
            match self.0.read() {
                Ok(tungstenite::Message::Text(text)) => return Some(text.as_str().to_owned()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("the inspector's socket failed: {e}"),
            }
        }
        None
    }
}

/// A DevTools protocol client: requests with ids, and events kept until
/// asked for.
struct Client<T> {
    transport: T,
    next_id: u64,
    events: Vec<Json>,
}

impl<T: Transport> Client<T> {
    fn new(transport: T) -> Self {
        Client { transport, next_id: 1, events: Vec::new() }
    }

    fn call(&mut self, method: &str, params: Json) -> Json {
        let id = self.next_id;
        self.next_id += 1;
        self.transport.send(json!({ "id": id, "method": method, "params": params }).to_string());
        let until = Instant::now() + WAIT;
        loop {
            let message = self.next(until).unwrap_or_else(|| panic!("no response to {method}"));
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    fn event(&mut self, method: &str) -> Json {
        if let Some(at) = self.events.iter().position(|event| event["method"] == method) {
            return self.events.remove(at)["params"].clone();
        }
        let until = Instant::now() + WAIT;
        loop {
            let message = self.next(until).unwrap_or_else(|| panic!("no {method} event"));
            if message["method"] == method {
                return message["params"].clone();
            }
            self.events.push(message);
        }
    }

    fn next(&mut self, until: Instant) -> Option<Json> {
        self.transport.receive(until).map(|text| serde_json::from_str(&text).expect("protocol messages are JSON"))
    }
}

const CALC: &str = "function calc(x) {\n  const doubled = x * 2;\n  return doubled + 1;\n}\ncalc(20);\n";

#[test]
fn a_breakpoint_pauses_a_script_whose_variables_can_be_read_and_stepped_through() {
    let (isolate, context) = inspected();
    let mut client = Client::new(Direct::open(&isolate));
    client.call("Runtime.enable", json!({}));
    let created = client.event("Runtime.executionContextCreated");
    assert_eq!(created["context"]["name"], "main");
    client.call("Debugger.enable", json!({}));
    client.call("Debugger.setBreakpointByUrl", json!({ "url": "calc.js", "lineNumber": 2 }));

    let script = isolate.compile_script(CALC, &CompileOptions::new().origin(ScriptOrigin::new("calc.js"))).unwrap();
    let running = script.run_async(&context, RunOptions::new());
    let result = thread::spawn(move || block_on(running));

    let paused = client.event("Debugger.paused");
    assert_eq!(paused["hitBreakpoints"].as_array().map(Vec::len), Some(1), "{paused}");
    let frame = &paused["callFrames"][0];
    assert_eq!(frame["functionName"], "calc");
    assert_eq!(frame["location"]["lineNumber"], 2);
    let read = client
        .call("Debugger.evaluateOnCallFrame", json!({ "callFrameId": frame["callFrameId"], "expression": "doubled" }));
    assert_eq!(read["result"]["value"], 40);

    client.call("Debugger.stepOver", json!({}));
    client.event("Debugger.resumed");
    let stepped = client.event("Debugger.paused");
    assert_eq!(stepped["reason"], "step");
    assert_eq!(stepped["callFrames"][0]["returnValue"]["value"], 41, "{stepped}");
    client.call("Debugger.resume", json!({}));
    assert_eq!(result.join().unwrap().unwrap().into_value(), Some(Value::Number(41.0)));
}

#[test]
fn console_messages_and_heap_snapshots_reach_the_session() {
    let (isolate, context) = inspected();
    let mut client = Client::new(Direct::open(&isolate));
    client.call("Runtime.enable", json!({}));
    context.eval("console.log('hello', 42)", &EvalOptions::new()).unwrap();
    let logged = client.event("Runtime.consoleAPICalled");
    assert_eq!(logged["type"], "log");
    assert_eq!(logged["args"][0]["value"], "hello");
    assert_eq!(logged["args"][1]["value"], 42);

    context.eval("globalThis.kept = { marker: 'findme' }", &EvalOptions::new()).unwrap();
    client.call("HeapProfiler.enable", json!({}));
    client.call("HeapProfiler.takeHeapSnapshot", json!({ "reportProgress": false }));
    let mut snapshot = String::new();
    while let Some(at) = client.events.iter().position(|e| e["method"] == "HeapProfiler.addHeapSnapshotChunk") {
        snapshot.push_str(client.events.remove(at)["params"]["chunk"].as_str().unwrap());
    }
    let snapshot: Json = serde_json::from_str(&snapshot).expect("the chunks make one JSON heap snapshot");
    assert!(snapshot["snapshot"]["node_count"].as_u64() > Some(0));
    assert!(snapshot["strings"].as_array().unwrap().iter().any(|s| s == "findme"));
}

#[test]
fn devtools_connects_over_a_websocket_and_debugs() {
    let (isolate, context) = inspected();
    let server = InspectorServer::start(&isolate, 0).unwrap();
    assert!(server.websocket_url().starts_with(&format!("ws://127.0.0.1:{}/", server.port())));
    assert!(
        server.devtools_url().starts_with("devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=")
    );

    let (status, body) = http_get(server.port(), "/json/list", "localhost");
    assert_eq!(status, 200);
    let targets: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(targets[0]["webSocketDebuggerUrl"], server.websocket_url());
    let (status, body) = http_get(server.port(), "/json/version", "127.0.0.1");
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Json>(&body).unwrap()["V8-Version"].is_string());

    let mut client = Client::new(Socket::connect(&server.websocket_url()));
    client.call("Debugger.enable", json!({}));
    let running = context.eval_async("let secret = 7;\ndebugger;\nsecret * 6", EvalOptions::new());
    let result = thread::spawn(move || block_on(running));
    let paused = client.event("Debugger.paused");
    assert_eq!(paused["reason"], "other");
    let frame_id = paused["callFrames"][0]["callFrameId"].clone();
    let read = client.call("Debugger.evaluateOnCallFrame", json!({ "callFrameId": frame_id, "expression": "secret" }));
    assert_eq!(read["result"]["value"], 7);
    client.call("Debugger.resume", json!({}));
    assert_eq!(result.join().unwrap().unwrap().into_value(), Some(Value::Number(42.0)));
}

#[test]
fn the_server_refuses_other_hosts_and_paths() {
    let (isolate, _context) = inspected();
    let server = InspectorServer::start(&isolate, 0).unwrap();
    // A web page reaching the port through DNS rebinding names its own host.
    assert_eq!(http_get(server.port(), "/json/list", "attacker.example:9229").0, 403);
    assert_eq!(http_get(server.port(), "/elsewhere", "localhost").0, 404);
    let wrong = format!("ws://127.0.0.1:{}/not-the-id", server.port());
    assert!(tungstenite::connect(wrong).is_err());
    // The port is taken while the server runs.
    assert!(matches!(InspectorServer::start(&isolate, server.port()), Err(Error::Io(_))));
}

#[test]
fn closing_the_session_resumes_paused_javascript() {
    let (isolate, context) = inspected();
    let mut client = Client::new(Direct::open(&isolate));
    client.call("Debugger.enable", json!({}));
    let running = context.eval_async("debugger; 'finished'", EvalOptions::new());
    let result = thread::spawn(move || block_on(running));
    client.event("Debugger.paused");
    drop(client);
    assert_eq!(result.join().unwrap().unwrap().into_value(), Some(Value::from("finished")));
}

#[test]
fn closing_the_server_resumes_paused_javascript() {
    let (isolate, context) = inspected();
    let server = InspectorServer::start(&isolate, 0).unwrap();
    let mut client = Client::new(Socket::connect(&server.websocket_url()));
    client.call("Debugger.enable", json!({}));
    let running = context.eval_async("debugger; 'finished'", EvalOptions::new());
    let result = thread::spawn(move || block_on(running));
    client.event("Debugger.paused");
    server.close();
    assert_eq!(result.join().unwrap().unwrap().into_value(), Some(Value::from("finished")));
}

#[test]
fn a_timeout_ends_a_paused_call_and_the_isolate_stays_usable() {
    let (isolate, context) = inspected();
    let mut client = Client::new(Direct::open(&isolate));
    client.call("Debugger.enable", json!({}));
    let running = context.eval_async("debugger; 1", EvalOptions::new().timeout(Duration::from_millis(300)));
    let result = thread::spawn(move || block_on(running));
    client.event("Debugger.paused");
    assert!(matches!(result.join().unwrap(), Err(Error::Timeout)));
    client.call("Debugger.disable", json!({}));
    assert_eq!(context.eval("2", &EvalOptions::new()).unwrap().into_value(), Some(Value::Number(2.0)));
}

#[test]
fn disposing_ends_a_paused_call() {
    let (isolate, context) = inspected();
    let mut client = Client::new(Direct::open(&isolate));
    client.call("Debugger.enable", json!({}));
    let running = context.eval_async("debugger; 1", EvalOptions::new());
    let result = thread::spawn(move || block_on(running));
    client.event("Debugger.paused");
    isolate.dispose().unwrap();
    assert!(matches!(result.join().unwrap(), Err(Error::DisposedDuringExecution)));
    assert_eq!(client.transport.session.dispatch("{}"), Err(Error::Disposed));
}

#[test]
fn an_isolate_without_the_inspector_refuses_sessions() {
    let isolate = Isolate::new(IsolateOptions::new()).unwrap();
    assert!(matches!(isolate.create_inspector_session(|_| {}), Err(Error::InvalidArgument(_))));
    assert!(matches!(InspectorServer::start(&isolate, 0), Err(Error::InvalidArgument(_))));
    let (isolate, _context) = inspected();
    let session = isolate.create_inspector_session(|_| {}).unwrap();
    session.close();
    assert_eq!(session.dispatch("{}"), Err(Error::Released("InspectorSession has been released")));
}

/// A plain HTTP GET, as DevTools' target discovery sends it.
fn http_get(port: u16, path: &str, host: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn an_inspected_pools_contexts_show_up_in_the_inspector() {
    let pool = ivm::IsolatePool::new(IsolateOptions::new().inspector(true), 1).unwrap();
    let pooled = pool.checkout().unwrap();
    let mut client = Client::new(Direct::open(pooled.isolate()));
    client.call("Runtime.enable", json!({}));
    let created = client.event("Runtime.executionContextCreated");
    assert_eq!(created["context"]["auxData"]["isDefault"], true, "{created}");
    pooled.context().eval("console.log('from the pool')", &EvalOptions::new()).unwrap();
    assert_eq!(client.event("Runtime.consoleAPICalled")["args"][0]["value"], "from the pool");
}

#[test]
fn a_context_shows_its_origin_to_the_inspector() {
    let isolate = Isolate::new(IsolateOptions::new().inspector(true)).unwrap();
    let options = ContextOptions::new().inspector(true).name("app").origin("https://example.com");
    let _context = isolate.create_context_with(&options).unwrap();
    let _plain = isolate.create_context_with(&ContextOptions::new().inspector(true).name("plain")).unwrap();
    let mut client = Client::new(Direct::open(&isolate));
    client.call("Runtime.enable", json!({}));
    let (first, second) =
        (client.event("Runtime.executionContextCreated"), client.event("Runtime.executionContextCreated"));
    let (created, plain) = if first["context"]["name"] == "app" { (first, second) } else { (second, first) };
    assert_eq!(created["context"]["name"], "app");
    assert_eq!(created["context"]["origin"], "https://example.com", "{created}");
    assert_eq!(created["context"]["auxData"]["isDefault"], true, "{created}");
    assert!(created["context"]["auxData"].get("origin").is_none(), "moved, not copied: {created}");
    assert_eq!(plain["context"]["name"], "plain");
    assert_eq!(plain["context"]["origin"], "", "{plain}");
}
