//! Shared helpers for ivm's cross-crate test suites (the modules of
//! `suite.rs`, `hardening`, `tidy`). The suites share a process, so none of
//! them may change process-wide V8 state; `hardening`, which measures the
//! process, has one of its own.

use std::path::PathBuf;

use ivm::{Context, EvalOptions, Isolate, IsolateOptions, Transferable};

/// As the front-ends do: copies out of isolates are bounded as V8 makes them.
#[global_allocator]
static ALLOCATOR: ivm::BoundedAllocator = ivm::BoundedAllocator;

/// A fresh isolate (default options) and a context in it.
pub fn isolate_and_context() -> (Isolate, Context) {
    let isolate = Isolate::new(IsolateOptions::new()).expect("create isolate");
    let context = isolate.create_context().expect("create context");
    (isolate, context)
}

/// Evaluates `code` with default options, panicking on error.
pub fn eval(context: &Context, code: &str) -> Transferable {
    context.eval(code, &EvalOptions::new()).unwrap_or_else(|e| panic!("eval {code:?} failed: {e}"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}
