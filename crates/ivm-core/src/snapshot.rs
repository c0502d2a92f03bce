//! Startup snapshots: the heap of an isolate after running some scripts,
//! saved as bytes that later isolates boot from ([`IsolateOptions::snapshot`]),
//! so the scripts' globals exist without running them again.
//!
//! The scripts run in a process of their own, a *snapshot worker*
//! ([`serve_snapshot_worker`], which each front-end can start: the `ivm`
//! command, the Node addon and the Python package do), under a memory limit
//! and a timeout. A crash, a runaway loop or hostile code there ends in an
//! error here. It is also the only safe place: V8 cannot make a snapshot in
//! a process whose other isolates are running (they share the read-only
//! heap the snapshot serializes).
//!
//! The bytes carry a header of ivm's (a magic number and a checksum),
//! checked before V8 sees them, and V8's own version check: V8 trusts a
//! snapshot blindly and aborts the process on a corrupt one.
//!
//! [`IsolateOptions::snapshot`]: crate::IsolateOptions::snapshot

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivm_runtime::Watchdog;

use crate::context::{new_string, script_origin};
use crate::memory::{self, MemoryBudget};
use crate::{Error, JsError, Result, ScriptOrigin, platform};

/// How to make a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotOptions {
    /// The memory the scripts may use, in MiB.
    pub memory_limit_mb: usize,
    /// How long all the scripts together may run.
    pub timeout: Duration,
    /// The process that makes the snapshot (see [`SnapshotWorker`]).
    pub worker: Option<SnapshotWorker>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            memory_limit_mb: crate::DEFAULT_MEMORY_LIMIT_MB,
            timeout: Duration::from_secs(10),
            worker: None,
        }
    }
}

impl SnapshotOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn memory_limit(mut self, mb: usize) -> Self {
        self.memory_limit_mb = mb;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn worker(mut self, worker: SnapshotWorker) -> Self {
        self.worker = Some(worker);
        self
    }
}

/// A command that starts a snapshot worker: a process that calls
/// [`serve_snapshot_worker`] and exits with what it returns (`ivm
/// snapshot-worker`, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotWorker {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl SnapshotWorker {
    pub fn new(program: impl Into<PathBuf>) -> SnapshotWorker {
        SnapshotWorker { program: program.into(), args: Vec::new(), env: Vec::new() }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A script a snapshot runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotScript {
    pub code: String,
    pub origin: ScriptOrigin,
}

impl SnapshotScript {
    pub fn new(code: impl Into<String>, origin: ScriptOrigin) -> SnapshotScript {
        SnapshotScript { code: code.into(), origin }
    }
}

/// Runs `scripts`, in order, in a fresh context of a snapshot worker and
/// returns a snapshot of the result. With `warmup`, the snapshot also holds
/// the compiled code of the functions the warm-up script calls (run in a
/// throwaway context, so its side effects are not kept), as isolated-vm's
/// `warmupScript`.
pub fn create_snapshot(scripts: &[SnapshotScript], warmup: Option<&str>, options: &SnapshotOptions) -> Result<Vec<u8>> {
    crate::numeric::check_duration("timeout", Some(options.timeout))?;
    crate::numeric::check_memory_limit(options.memory_limit_mb)?;
    let worker = options.worker.as_ref().ok_or_else(|| {
        Error::InvalidArgument(
            "create_snapshot needs SnapshotOptions::worker, a process that runs ivm's serve_snapshot_worker".into(),
        )
    })?;
    let request = Request {
        memory_limit_mb: options.memory_limit_mb,
        timeout: options.timeout,
        scripts: scripts.to_vec(),
        warmup: warmup.map(str::to_owned),
    };
    let mut child = Command::new(&worker.program)
        .args(&worker.args)
        .envs(worker.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::InvalidArgument(format!("cannot start the snapshot worker {:?}: {e}", worker.program)))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let encoded = request.encode();
    let writer = std::thread::spawn(move || stdin.write_all(&encoded));
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        stdout.read_to_end(&mut output).map(|_| output)
    });
    let errors = std::thread::spawn(move || {
        let mut output = Vec::new();
        let _ = stderr.read_to_end(&mut output);
        output
    });
    // The worker stops the scripts at the timeout itself; this is for a
    // worker that does not (stuck outside JavaScript, or not a worker).
    let deadline = Instant::now().checked_add(options.timeout.saturating_add(WORKER_GRACE));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::InvalidArgument(e.to_string()))? {
            break status;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let output = reader.join().ok().and_then(|read| read.ok()).unwrap_or_default();
    let errors = errors.join().unwrap_or_default();
    match Response::decode(&output) {
        Some(Response::Snapshot(bytes)) => Ok(bytes),
        Some(Response::Failed(error)) => Err(error),
        None => {
            let errors = String::from_utf8_lossy(&errors);
            let tail =
                errors.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            Err(Error::InvalidArgument(format!("the snapshot worker failed ({status}) without a snapshot: {tail}")))
        }
    }
}

/// Time the worker gets past the scripts' timeout to report and exit.
const WORKER_GRACE: Duration = Duration::from_secs(5);

/// The body of a snapshot worker process: reads a request from stdin,
/// makes the snapshot, writes the outcome to stdout, and returns the
/// process's exit status. Call it in a fresh process and exit right after:
/// V8 cannot make a snapshot beside other running isolates.
pub fn serve_snapshot_worker() -> i32 {
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() {
        return 2;
    }
    let Some(request) = Request::decode(&input) else {
        eprintln!("ivm snapshot worker: not a snapshot request");
        return 2;
    };
    let response = match create_here(&request) {
        Ok(snapshot) => Response::Snapshot(snapshot),
        Err(error) => Response::Failed(error),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&response.encode()).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 2,
    }
}

/// Makes the snapshot in this process (a worker's).
fn create_here(request: &Request) -> Result<Vec<u8>> {
    platform::initialize();
    let limit_bytes = request
        .memory_limit_mb
        .checked_mul(1 << 20)
        .ok_or_else(|| Error::InvalidArgument("memory_limit is too large".into()))?;
    crate::numeric::check_duration("timeout", Some(request.timeout))?;
    let deadline = Instant::now()
        .checked_add(request.timeout)
        .ok_or_else(|| Error::InvalidArgument("`timeout` is too long for this clock".into()))?;
    // V8 shares one read-only heap among a process's live isolates. A
    // snapshot creator alone in its process builds that heap from scratch,
    // unlike the one V8's default snapshot holds, and isolates booted from
    // the two cannot live side by side. With an isolate of the default
    // snapshot alive, the creator shares its read-only heap instead.
    let _default_read_only_heap = v8::Isolate::new(Default::default());
    let cold = create_blob(None, limit_bytes, deadline, |scope, context| {
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let scope, scope);
        request.scripts.iter().try_for_each(|script| run(scope, script))
    })?;
    let blob = match &request.warmup {
        None => cold,
        Some(warmup) => create_blob(Some(cold), limit_bytes, deadline, |scope, _kept| {
            // Compile what the warm-up calls in another context and keep
            // the fresh one: the code is shared, the state is not.
            let throwaway = v8::Context::new(scope, Default::default());
            let scope = &mut v8::ContextScope::new(scope, throwaway);
            v8::tc_scope!(let scope, scope);
            run(scope, &SnapshotScript::new(warmup.clone(), ScriptOrigin::new("<warmup>")))
        })?,
    };
    Ok(seal(&blob))
}

/// What the worker is asked to do.
struct Request {
    memory_limit_mb: usize,
    timeout: Duration,
    scripts: Vec<SnapshotScript>,
    warmup: Option<String>,
}

/// What the worker answers.
enum Response {
    Snapshot(Vec<u8>),
    Failed(Error),
}

const REQUEST_MAGIC: &[u8] = b"IVMSNAPREQ1";
const RESPONSE_MAGIC: &[u8] = b"IVMSNAPRES1";

/// Writes the little framing the worker protocol uses: numbers little-endian,
/// strings and byte strings prefixed with their length.
#[derive(Default)]
struct Frame(Vec<u8>);

impl Frame {
    fn u64(&mut self, n: u64) -> &mut Self {
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes())
    }
}

/// Reads what [`Frame`] writes; `None` at any inconsistency.
struct Unframe<'a>(&'a [u8]);

impl<'a> Unframe<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_at_checked(8)?;
        self.0 = rest;
        Some(u64::from_le_bytes(head.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let length = usize::try_from(self.u64()?).ok()?;
        let (head, rest) = self.0.split_at_checked(length)?;
        self.0 = rest;
        Some(head)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn magic(&mut self, magic: &[u8]) -> Option<()> {
        let rest = self.0.strip_prefix(magic)?;
        self.0 = rest;
        Some(())
    }
}

impl Request {
    fn encode(&self) -> Vec<u8> {
        let mut frame = Frame(REQUEST_MAGIC.to_vec());
        frame.u64(self.memory_limit_mb as u64).u64(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        frame.u64(self.scripts.len() as u64);
        for script in &self.scripts {
            let origin = &script.origin;
            frame
                .text(&origin.filename)
                .u64(origin.line_offset as u64)
                .u64(origin.column_offset as u64)
                .text(&script.code);
        }
        match &self.warmup {
            Some(warmup) => frame.u64(1).text(warmup),
            None => frame.u64(0),
        };
        frame.0
    }

    fn decode(bytes: &[u8]) -> Option<Request> {
        let mut input = Unframe(bytes);
        input.magic(REQUEST_MAGIC)?;
        let memory_limit_mb = usize::try_from(input.u64()?).ok()?;
        let timeout = Duration::from_millis(input.u64()?);
        let count = input.u64()?;
        let mut scripts = Vec::new();
        for _ in 0..count {
            let filename = input.text()?;
            let (line, column) = (input.u64()? as i32, input.u64()? as i32);
            let code = input.text()?;
            scripts
                .push(SnapshotScript::new(code, ScriptOrigin::new(filename).line_offset(line).column_offset(column)));
        }
        let warmup = if input.u64()? == 1 { Some(input.text()?) } else { None };
        Some(Request { memory_limit_mb, timeout, scripts, warmup })
    }
}

impl Response {
    fn encode(&self) -> Vec<u8> {
        let mut frame = Frame(RESPONSE_MAGIC.to_vec());
        match self {
            Response::Snapshot(bytes) => frame.u64(0).bytes(bytes),
            Response::Failed(Error::Js(error)) => {
                frame.u64(1).text(&error.name).text(&error.message).text(error.stack.as_deref().unwrap_or(""))
            }
            Response::Failed(Error::Timeout) => frame.u64(2),
            Response::Failed(Error::MemoryLimit) => frame.u64(3),
            Response::Failed(other) => frame.u64(4).text(&other.to_string()),
        };
        frame.0
    }

    fn decode(bytes: &[u8]) -> Option<Response> {
        let mut input = Unframe(bytes);
        input.magic(RESPONSE_MAGIC)?;
        Some(match input.u64()? {
            0 => Response::Snapshot(input.bytes()?.to_vec()),
            1 => {
                let (name, message, stack) = (input.text()?, input.text()?, input.text()?);
                let stack = (!stack.is_empty()).then_some(stack);
                Response::Failed(Error::Js(JsError { stack, ..JsError::new(name, message) }))
            }
            2 => Response::Failed(Error::Timeout),
            3 => Response::Failed(Error::MemoryLimit),
            4 => Response::Failed(Error::InvalidArgument(input.text()?)),
            _ => return None,
        })
    }
}

type Scope<'a, 'b, 'c, 'i> = v8::PinnedRef<'a, v8::TryCatch<'b, 'c, v8::HandleScope<'i>>>;

fn run(scope: &mut Scope<'_, '_, '_, '_>, script: &SnapshotScript) -> Result<()> {
    let origin = script_origin(scope, &script.origin)?;
    let mut source = v8::script_compiler::Source::new(new_string(scope, &script.code)?, Some(&origin));
    let compiled = v8::script_compiler::compile(
        scope,
        &mut source,
        v8::script_compiler::CompileOptions::NoCompileOptions,
        v8::script_compiler::NoCacheReason::NoReason,
    );
    let ran = compiled.and_then(|compiled| compiled.run(scope));
    if ran.is_some() {
        return Ok(());
    }
    if scope.has_terminated() {
        return Err(Error::Timeout);
    }
    Err(crate::exception::caught(scope))
}

/// Makes a snapshot creator (from `existing`, or V8's own startup state),
/// has `build` set up the context that becomes the snapshot's default, and
/// returns the blob; the creator is stopped at `deadline` and held to
/// `limit_bytes`.
fn create_blob(
    existing: Option<Vec<u8>>,
    limit_bytes: usize,
    deadline: Instant,
    build: impl for<'s> FnOnce(&mut v8::PinScope<'s, '_, ()>, v8::Local<'s, v8::Context>) -> Result<()>,
) -> Result<Vec<u8>> {
    let budget = MemoryBudget::new(limit_bytes);
    let params =
        v8::Isolate::create_params().heap_limits(0, limit_bytes).array_buffer_allocator(memory::allocator(&budget));
    let mut creator = match existing {
        Some(blob) => v8::Isolate::snapshot_creator_from_existing_snapshot(blob.into(), None, Some(params)),
        None => v8::Isolate::snapshot_creator(None, Some(params)),
    };
    creator.add_near_heap_limit_callback(memory::near_heap_limit, Arc::as_ptr(&budget).cast_mut().cast());
    let handle = creator.thread_safe_handle();
    budget.attach(handle.clone());
    let _timer = Watchdog::global().schedule(deadline, move || {
        handle.terminate_execution();
    });
    let built = {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let built = build(scope, context);
        // V8 can only tear a creator down by making its blob, which needs a
        // default context: a failed build still sets one (the blob is then
        // thrown away).
        scope.cancel_terminate_execution();
        scope.set_default_context(context);
        built
    };
    let outcome = if budget.limit_hit() {
        Err(Error::MemoryLimit)
    } else {
        built.map_err(|error| match error {
            // Terminated by the timer: report it as the timeout it is.
            Error::Js(JsError { .. }) if Instant::now() >= deadline => Error::Timeout,
            other => other,
        })
    };
    // The creator must make its blob to be torn down cleanly, even when
    // the snapshot is not wanted.
    let blob = creator.create_blob(v8::FunctionCodeHandling::Keep);
    outcome?;
    let blob = blob.ok_or_else(|| Error::InvalidArgument("V8 could not make a snapshot of this state".into()))?;
    Ok(blob.to_vec())
}

/// ivm's header: magic, then a checksum of the V8 blob that follows.
const MAGIC: &[u8; 8] = b"IVMSNAP1";
const HEADER: usize = MAGIC.len() + 8;

/// FNV-1a: enough to tell corrupt or truncated bytes from a snapshot (it
/// is not meant to stop a forger, who would be the host itself).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn seal(blob: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::with_capacity(HEADER + blob.len());
    sealed.extend_from_slice(MAGIC);
    sealed.extend_from_slice(&checksum(blob).to_le_bytes());
    sealed.extend_from_slice(blob);
    sealed
}

/// The V8 blob inside `bytes` made by [`create_snapshot`], or why they are
/// not one this build can boot from.
pub(crate) fn open(bytes: &[u8]) -> Result<v8::StartupData> {
    let invalid = |why: &str| Error::InvalidArgument(format!("not a usable snapshot: {why}"));
    let (header, blob) = bytes.split_at_checked(HEADER).ok_or_else(|| invalid("too short"))?;
    if &header[..MAGIC.len()] != MAGIC {
        return Err(invalid("not made by ivm's create_snapshot"));
    }
    let expected = u64::from_le_bytes(header[MAGIC.len()..].try_into().expect("8 bytes"));
    if checksum(blob) != expected {
        return Err(invalid("corrupt (checksum mismatch)"));
    }
    let data = v8::StartupData::from(blob.to_vec());
    if !data.is_valid() {
        return Err(invalid("made by another V8 version"));
    }
    Ok(data)
}
