//! Compiles the C that ivm-core needs: the landing pads V8's fatal errors
//! escape to (`native/escape.c`, see `src/fatal.rs`), and the guards on
//! single allocations V8 makes while it runs an isolate (`native/guard.c`,
//! see `src/guard.rs`).

fn main() {
    println!("cargo:rerun-if-changed=native/escape.c");
    println!("cargo:rerun-if-changed=native/guard.c");
    cc::Build::new().file("native/escape.c").file("native/guard.c").warnings_into_errors(true).compile("ivm_native");
}
