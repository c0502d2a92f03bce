fn main() {
    // Export the module's init function and nothing else (see exports.map):
    // ivm's V8 stays local to the extension, whatever else the interpreter
    // loads (another V8 in mini-racer or STPyV8, say).
    let map = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("exports.map");
    println!("cargo:rerun-if-changed={}", map.display());
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={}", map.display());
}
