//! Compiles the one piece of C that ivm-core needs: the landing pads V8's
//! fatal errors escape to (`native/escape.c`, see `src/fatal.rs`).

fn main() {
    println!("cargo:rerun-if-changed=native/escape.c");
    cc::Build::new().file("native/escape.c").warnings_into_errors(true).compile("ivm_escape");
}
