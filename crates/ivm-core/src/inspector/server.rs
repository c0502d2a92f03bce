//! A WebSocket server for Chrome DevTools on a loopback port: each
//! connection is an [`InspectorSession`] of one isolate. It answers
//! DevTools' discovery requests (`/json/list`, `/json/version`) too, so the
//! isolate shows up in `chrome://inspect` once the port is added there.
//!
//! A session can do anything in the isolate, so the server listens on
//! 127.0.0.1 only, accepts WebSockets only at a path with a random id, and
//! refuses requests whose `Host` is a name other than `localhost` (a web
//! page reaching the port through DNS rebinding).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use super::InspectorSession;
use crate::{Error, Isolate, Result};

/// How long a client has to send its HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection waits for the client before it passes the
/// inspector's messages on; the most they wait.
const POLL: Duration = Duration::from_millis(5);

/// Serves one isolate's inspector to DevTools over WebSocket, on
/// `127.0.0.1`. Connect DevTools to [`devtools_url`](Self::devtools_url),
/// or any protocol client to [`websocket_url`](Self::websocket_url).
/// Dropping the server or calling [`close`](Self::close) stops it and ends
/// its sessions.
#[derive(Debug)]
pub struct InspectorServer {
    target: Arc<Target>,
    /// `None` once closed. Behind a lock so that `close` takes `&self`, as
    /// a binding's shared handle calls it.
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Target {
    isolate: Isolate,
    address: SocketAddr,
    id: String,
    stopping: AtomicBool,
}

impl InspectorServer {
    /// Starts serving `isolate`'s inspector on `127.0.0.1:port`; port 0
    /// takes a free one (see [`port`](Self::port)). The isolate must have
    /// been made with [`IsolateOptions::inspector`](crate::IsolateOptions::inspector).
    pub fn start(isolate: &Isolate, port: u16) -> Result<InspectorServer> {
        isolate.inspector_inbox()?;
        let io_error = |e: io::Error| Error::Io(format!("cannot serve the inspector on 127.0.0.1:{port}: {e}"));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(io_error)?;
        let address = listener.local_addr().map_err(io_error)?;
        let target =
            Arc::new(Target { isolate: isolate.clone(), address, id: random_id(), stopping: AtomicBool::new(false) });
        let accepting = Arc::clone(&target);
        let acceptor = thread::Builder::new()
            .name("ivm-inspector".into())
            .spawn(move || accept(&listener, &accepting))
            .map_err(io_error)?;
        Ok(InspectorServer { target, acceptor: Mutex::new(Some(acceptor)) })
    }

    pub fn port(&self) -> u16 {
        self.target.address.port()
    }

    /// Where a protocol client connects: `ws://127.0.0.1:<port>/<id>`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}", self.target.endpoint())
    }

    /// The address to open in Chrome to debug the isolate with DevTools.
    pub fn devtools_url(&self) -> String {
        devtools_url(&self.target)
    }

    /// Stops the server: no new connections, and open ones close (which
    /// resumes JavaScript their sessions paused). Closing twice is harmless.
    pub fn close(&self) {
        let Some(acceptor) = self.acceptor.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
        self.target.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor from `accept`, to see that it must stop.
        let _ = TcpStream::connect(self.target.address);
        let _ = acceptor.join();
    }
}

impl Drop for InspectorServer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Target {
    /// `<address>/<id>`: where its WebSocket is, without the scheme.
    fn endpoint(&self) -> String {
        format!("{}/{}", self.address, self.id)
    }
}

fn devtools_url(target: &Target) -> String {
    format!("devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws={}", target.endpoint())
}

fn accept(listener: &TcpListener, target: &Arc<Target>) {
    for stream in listener.incoming() {
        if target.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let target = Arc::clone(target);
        // A connection that cannot get a thread is dropped, which closes it.
        let _ = crate::this_thread::spawn_own("ivm-inspector-session", move || {
            let _ = serve(stream, &target);
        });
    }
}

fn serve(stream: TcpStream, target: &Target) -> io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let head = peek_head(&stream)?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
        return respond(stream, head.len(), "400 Bad Request", "text/plain", "bad request\n");
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    if !header("host").is_some_and(host_allowed) {
        return respond(
            stream,
            head.len(),
            "403 Forbidden",
            "text/plain",
            "the Host header must be localhost or an IP address\n",
        );
    }
    let upgrade = header("upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let path = request.path.unwrap_or("/");
    if upgrade && path.strip_prefix('/') == Some(target.id.as_str()) {
        return converse(stream, target);
    }
    match path {
        "/json" | "/json/list" => respond(stream, head.len(), "200 OK", "application/json", &list(target)),
        "/json/version" => {
            let version = format!(
                r#"{{"Browser":"ivm/{}","Protocol-Version":"1.3","V8-Version":"{}"}}"#,
                env!("CARGO_PKG_VERSION"),
                v8::V8::get_version()
            );
            respond(stream, head.len(), "200 OK", "application/json", &version)
        }
        _ => respond(stream, head.len(), "404 Not Found", "text/plain", "not found\n"),
    }
}

/// The request's head (through its blank line), left unread in the stream
/// for the WebSocket handshake to read.
fn peek_head(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buffer = vec![0; MAX_HEAD];
    loop {
        let seen = stream.peek(&mut buffer)?;
        if seen == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(end) = buffer[..seen].windows(4).position(|window| window == b"\r\n\r\n") {
            buffer.truncate(end + 4);
            return Ok(buffer);
        }
        if seen == MAX_HEAD || Instant::now() > deadline {
            return Err(io::ErrorKind::InvalidData.into());
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// DNS rebinding sends a name the attacker controls; an IP address or
/// `localhost` is what a local client sends.
fn host_allowed(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => {
            return bracketed.split(']').next().is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<Ipv4Addr>().is_ok()
}

fn respond(mut stream: TcpStream, head_len: usize, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    // Read the request first: closing a socket with unread input resets
    // the connection, and the client may lose the response.
    stream.read_exact(&mut vec![0; head_len])?;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn list(target: &Target) -> String {
    format!(
        r#"[{{"description":"ivm isolate","devtoolsFrontendUrl":"{}","id":"{}","title":"ivm","type":"node","url":"file://","webSocketDebuggerUrl":"ws://{}"}}]"#,
        devtools_url(target),
        target.id,
        target.endpoint()
    )
}

/// One DevTools session over an accepted WebSocket, until either side ends.
fn converse(stream: TcpStream, target: &Target) -> io::Result<()> {
    let mut socket = tungstenite::accept(stream).map_err(io::Error::other)?;
    socket.get_ref().set_read_timeout(Some(POLL))?;
    let (sender, outgoing) = mpsc::channel();
    let session = match target.isolate.create_inspector_session(move |message| {
        let _ = sender.send(message.message().to_owned());
    }) {
        Ok(session) => session,
        Err(e) => return close(&mut socket, &e.to_string()),
    };
    loop {
        if target.stopping.load(Ordering::SeqCst) {
            return close(&mut socket, "the inspector server stopped");
        }
        if target.isolate.is_disposed() {
            return close(&mut socket, "the isolate was disposed");
        }
        match socket.read() {
            Ok(Message::Text(text)) => dispatch(&session, text.as_str(), &mut socket)?,
            Ok(Message::Binary(bytes)) => dispatch(&session, &String::from_utf8_lossy(&bytes), &mut socket)?,
            Ok(Message::Close(_)) => {
                let _ = socket.flush();
                return Ok(());
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(io::Error::other(e)),
        }
        let mut wrote = false;
        while let Ok(message) = outgoing.try_recv() {
            socket.write(Message::text(message)).map_err(io::Error::other)?;
            wrote = true;
        }
        if wrote {
            socket.flush().map_err(io::Error::other)?;
        }
    }
}

fn dispatch(session: &InspectorSession, message: &str, socket: &mut WebSocket<TcpStream>) -> io::Result<()> {
    match session.dispatch(message) {
        Ok(()) => Ok(()),
        Err(e) => close(socket, &e.to_string()),
    }
}

fn close(socket: &mut WebSocket<TcpStream>, reason: &str) -> io::Result<()> {
    use tungstenite::protocol::CloseFrame;
    use tungstenite::protocol::frame::coding::CloseCode;
    let frame = CloseFrame { code: CloseCode::Away, reason: reason.chars().take(120).collect::<String>().into() };
    let _ = socket.close(Some(frame));
    let _ = socket.flush();
    Ok(())
}

/// An id no web page can guess, for the WebSocket's path.
fn random_id() -> String {
    // `RandomState` is keyed from the operating system's random source.
    let part = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    let (high, low) = (part(1), part(2));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}
