//! The `ivm` command: runs a JavaScript file in a fresh, limited isolate
//! (`ivm run`), and shows in a few seconds what ivm is for (`ivm demo`).
//!
//! It knows only the public `ivm` crate; everything it does, a user of the
//! library could do.

mod demo;

use std::process::ExitCode;
use std::time::Duration;

use ivm::{EvalOptions, Isolate, IsolateOptions, ScriptOrigin, Transferable};

/// Copies out of isolates are bounded as V8 makes them (`ivm::BoundedAllocator`).
#[global_allocator]
static ALLOCATOR: ivm::BoundedAllocator = ivm::BoundedAllocator;

const USAGE: &str = "\
usage:
  ivm run FILE.js [--memory-limit MB] [--timeout MS]
      Runs FILE.js in a fresh isolate and prints its completion value.
  ivm demo
      Parallel isolates, a memory limit and a timeout, in a few seconds.
  ivm snapshot-worker
      Serves one snapshot request on stdin (what ivm::create_snapshot starts).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // First, before anything else runs V8: a snapshot worker must be a
    // process of its own.
    if args.first().map(String::as_str) == Some("snapshot-worker") {
        return ExitCode::from(u8::try_from(ivm::serve_snapshot_worker()).unwrap_or(2));
    }
    ivm::initialize();
    let result = match args.first().map(String::as_str) {
        Some("run") => parse_run(&args[1..]).and_then(|run| run.execute()),
        Some("demo") if args.len() == 1 => demo::run(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(CliError::Usage("expected a command".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("ivm: {message}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
enum CliError {
    Usage(String),
    Failed(String),
}

impl From<ivm::Error> for CliError {
    fn from(error: ivm::Error) -> CliError {
        CliError::Failed(match error {
            ivm::Error::Js(js) => js.to_string(),
            other => format!("ivm: {other}"),
        })
    }
}

#[derive(Debug)]
struct RunCommand {
    file: String,
    memory_limit_mb: usize,
    timeout: Option<Duration>,
}

fn parse_run(args: &[String]) -> Result<RunCommand, CliError> {
    let mut file = None;
    let mut memory_limit_mb = ivm::DEFAULT_MEMORY_LIMIT_MB;
    let mut timeout = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| -> Result<u64, CliError> {
            let value = args.next().ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))?;
            value.parse().map_err(|_| CliError::Usage(format!("{flag} expects a whole number, got {value:?}")))
        };
        match arg.as_str() {
            "--memory-limit" => {
                memory_limit_mb = usize::try_from(number("--memory-limit")?)
                    .map_err(|_| CliError::Usage("--memory-limit is too large".into()))?;
            }
            "--timeout" => timeout = Some(Duration::from_millis(number("--timeout")?)),
            flag if flag.starts_with("--") => return Err(CliError::Usage(format!("unknown option {flag}"))),
            path if file.is_none() => file = Some(path.to_owned()),
            extra => return Err(CliError::Usage(format!("unexpected argument {extra:?}"))),
        }
    }
    let file = file.ok_or_else(|| CliError::Usage("run needs a FILE.js".into()))?;
    Ok(RunCommand { file, memory_limit_mb, timeout })
}

impl RunCommand {
    fn execute(self) -> Result<(), CliError> {
        let code = std::fs::read_to_string(&self.file)
            .map_err(|e| CliError::Failed(format!("ivm: cannot read {}: {e}", self.file)))?;
        let isolate = Isolate::new(IsolateOptions::new().memory_limit(self.memory_limit_mb))?;
        let context = isolate.create_context()?;
        let mut options = EvalOptions::new().origin(ScriptOrigin::new(self.file.clone()));
        if let Some(timeout) = self.timeout {
            options = options.timeout(timeout);
        }
        let result = context.eval(&code, &options)?;
        println!("{}", render(&context, result, &options)?);
        Ok(())
    }
}

/// Prints primitives as they are and objects as JSON (functions and other
/// values JSON cannot express as their `String()`), rendered inside the
/// isolate under the same limits as the script.
fn render(context: &ivm::Context, result: Transferable, options: &EvalOptions) -> Result<String, CliError> {
    if let Some(ivm::Value::String(s)) = result.as_value() {
        return Ok(s.to_string_lossy().into_owned());
    }
    match result {
        Transferable::Reference(reference) => {
            let rendered = context.eval_closure(
                "try { return JSON.stringify($0, null, 2) ?? String($0); } catch { return String($0); }",
                &[reference.into()],
                options,
            )?;
            Ok(rendered.as_value().and_then(ivm::Value::as_str).unwrap_or_default().to_owned())
        }
        other => Ok(other.to_string()),
    }
}
