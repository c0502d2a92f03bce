//! The cross-crate suites, as modules of one test binary: every test binary
//! links all of V8, so one binary instead of thirteen saves CI more than a
//! GiB of disk and a dozen links. The suites that must own their process
//! stay binaries of their own: `hardening` reads the process's RSS, and
//! `tidy` reads the repository, not V8.

mod api;
mod callbacks;
mod clone;
mod conformance;
mod forms;
mod hangs;
mod inspector;
mod limits;
mod modules;
mod options;
mod profiler;
mod remote;
mod sandbox;
