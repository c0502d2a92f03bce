//! Shared helpers for ivm's cross-crate test suites (`api`, `limits`,
//! `tidy`). Each suite is its own test binary, so a suite that changes
//! process-wide V8 state cannot affect another.

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
