//! `cargo xtask dist`: every release artifact, into `target/dist/`.
//!
//! - npm, in napi-rs's layout: the main package `ivm` (the JavaScript and
//!   its typings; its loader, `index.js`, picks `ivm-<platform>` from
//!   `optionalDependencies`) and one package per platform holding the
//!   addon, with `os`, `cpu` and `libc` set. Each machine builds its own
//!   platform's; the release workflow (`.github/workflows/release.yml`)
//!   runs this on a runner per platform.
//! - Python: the wheel and the sdist (maturin).
//! - Rust: `cargo package` of every crate, in publishing order.
//!
//! Binaries are stripped of debug information. The sizes are printed.
//! `pack_npm` is also what the test suite uses to install the npm packages
//! into a fresh project (`tests/node/packaging.test.js`).

use std::path::{Path, PathBuf};

use crate::{BuildEnv, cargo, python_venv, run};

/// The platforms the main package names in `optionalDependencies`:
/// napi-rs's names, with `os`, `cpu` and `libc` for their package.
const PLATFORMS: [(&str, &str, &str, Option<&str>); 6] = [
    ("linux-x64-gnu", "linux", "x64", Some("glibc")),
    ("linux-arm64-gnu", "linux", "arm64", Some("glibc")),
    ("linux-x64-musl", "linux", "x64", Some("musl")),
    ("darwin-x64", "darwin", "x64", None),
    ("darwin-arm64", "darwin", "arm64", None),
    ("win32-x64-msvc", "win32", "x64", None),
];

/// The platform this machine builds, by napi-rs's name (xtask runs on the
/// machine it builds for).
fn here() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH, cfg!(target_env = "musl")) {
        ("linux", "x86_64", false) => "linux-x64-gnu",
        ("linux", "aarch64", false) => "linux-arm64-gnu",
        ("linux", "x86_64", true) => "linux-x64-musl",
        ("macos", "x86_64", _) => "darwin-x64",
        ("macos", "aarch64", _) => "darwin-arm64",
        ("windows", "x86_64", _) => "win32-x64-msvc",
        _ => "unsupported",
    }
}

/// The addon cargo builds, by the platform's name for a C library.
fn built_addon(env: &BuildEnv) -> PathBuf {
    let file = match std::env::consts::OS {
        "macos" => "libivm_node.dylib",
        "windows" => "ivm_node.dll",
        _ => "libivm_node.so",
    };
    env.root.join("target/release").join(file)
}

/// Crates in the order crates.io must receive them (each after those it
/// depends on).
const CRATES: [&str; 4] = ["ivm-runtime", "ivm-marshal", "ivm-core", "ivm-isolates"];

pub(crate) fn dist(env: &BuildEnv) -> Result<(), String> {
    let out = env.root.join("target/dist");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    cargo(env, &["build", "--release", "--package", "ivm-node"])?;
    let tarballs = pack_npm(env, &built_addon(env), &out, true)?;

    let python = python_venv(env, &["maturin"])?;
    for args in [&["build", "--release", "--strip"][..], &["sdist"][..]] {
        let mut maturin = env.command(&python.display().to_string());
        maturin
            .args(["-m", "maturin"])
            .args(args)
            .arg("--out")
            .arg(&out)
            .args(["--manifest-path", "bindings/python/Cargo.toml"]);
        run(maturin)?;
    }

    let crates = out.join("crates");
    let mut package = vec!["package", "--no-verify", "--allow-dirty", "--target-dir"];
    let target = crates.display().to_string();
    package.push(&target);
    for name in CRATES {
        package.extend(["--package", name]);
    }
    cargo(env, &package)?;

    println!("\nxtask: release artifacts in {}:", out.display());
    let mut shown: Vec<PathBuf> = tarballs;
    shown.push(out.join(format!("npm/ivm-{}/ivm.node", here())));
    for entry in std::fs::read_dir(&out).map_err(|e| e.to_string())?.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "whl" || ext == "gz") && !shown.contains(&path) {
            shown.push(path);
        }
    }
    let packaged = crates.join("package");
    for entry in
        std::fs::read_dir(&packaged).map_err(|e| format!("{}: {e}", packaged.display()))?.filter_map(Result::ok)
    {
        if entry.path().extension().is_some_and(|ext| ext == "crate") {
            shown.push(entry.path());
        }
    }
    for path in shown {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {:>10.1} MiB  {}",
            size as f64 / f64::from(1 << 20),
            path.strip_prefix(&out).unwrap_or(&path).display()
        );
    }
    Ok(())
}

/// Lays out the npm packages under `out/npm` with `addon` as this
/// platform's binary (stripped of debug information if `strip`), and packs
/// each with `npm pack` into `out`: the tarballs, the main package first.
pub(crate) fn pack_npm(env: &BuildEnv, addon: &Path, out: &Path, strip: bool) -> Result<Vec<PathBuf>, String> {
    let version = workspace_version(env)?;
    let npm = out.join("npm");
    let main = npm.join("ivm");
    let here = here();
    let platform = npm.join(format!("ivm-{here}"));
    for dir in [&main, &platform] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let node = env.root.join("bindings/node");
    for file in ["index.js", "index.d.ts", "vm.js", "vm.d.ts", "README.md"] {
        copy(&node.join(file), &main.join(file))?;
    }
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        copy(&env.root.join(file), &main.join(file))?;
        copy(&env.root.join(file), &platform.join(file))?;
    }
    let optional: Vec<String> =
        PLATFORMS.iter().map(|(name, ..)| format!("    \"ivm-{name}\": \"{version}\"")).collect();
    let manifest = std::fs::read_to_string(node.join("package.json")).map_err(|e| e.to_string())?;
    let manifest = main_manifest(&manifest, &optional.join(",\n"))?;
    write(&main.join("package.json"), &manifest)?;

    let (_, os, cpu, libc) =
        PLATFORMS.iter().find(|(name, ..)| *name == here).ok_or_else(|| format!("ivm is not built for {here}"))?;
    let libc = libc.map(|libc| format!(",\n  \"libc\": [\"{libc}\"]")).unwrap_or_default();
    write(
        &platform.join("package.json"),
        &format!(
            "{{\n  \"name\": \"ivm-{here}\",\n  \"version\": \"{version}\",\n  \
             \"description\": \"ivm's native addon for {here}\",\n  \"main\": \"ivm.node\",\n  \
             \"files\": [\"ivm.node\", \"LICENSE-MIT\", \"LICENSE-APACHE\"],\n  \
             \"os\": [\"{os}\"],\n  \"cpu\": [\"{cpu}\"]{libc},\n  \"license\": \"MIT OR Apache-2.0\",\n  \
             \"repository\": \"https://github.com/ivm-rs/ivm\"\n}}\n"
        ),
    )?;
    let binary = platform.join("ivm.node");
    copy(addon, &binary)?;
    // Debug information and the symbols nothing links against; what Node
    // looks up (the Node-API entry point) is in the dynamic table. (A
    // Windows DLL keeps its debug information in a separate file.)
    let strip_flag = match std::env::consts::OS {
        "linux" => Some("--strip-unneeded"),
        "macos" => Some("-x"),
        _ => None,
    };
    if let (true, Some(flag)) = (strip, strip_flag) {
        let mut command = env.command("strip");
        command.arg(flag).arg(&binary);
        run(command)?;
    }

    let mut tarballs = Vec::new();
    for dir in [&main, &platform] {
        let mut pack = env.command("npm");
        pack.current_dir(dir).args(["pack", "--silent", "--pack-destination"]).arg(out);
        let output = pack.output().map_err(|e| format!("npm pack: {e}"))?;
        if !output.status.success() {
            return Err(format!("npm pack in {} failed: {}", dir.display(), String::from_utf8_lossy(&output.stderr)));
        }
        let name = String::from_utf8_lossy(&output.stdout).trim().lines().last().unwrap_or_default().to_owned();
        tarballs.push(out.join(name));
    }
    Ok(tarballs)
}

/// bindings/node/package.json as the published main package: without the
/// addon among its files, with the platform packages as optional
/// dependencies, and without the scripts that build from a clone.
fn main_manifest(manifest: &str, optional: &str) -> Result<String, String> {
    let files = "\"files\": [\"index.js\", \"index.d.ts\", \"vm.js\", \"vm.d.ts\", \"README.md\", \"LICENSE-MIT\", \"LICENSE-APACHE\"]";
    let start = manifest.find("\"files\":").ok_or("package.json has no files")?;
    let end = start + manifest[start..].find(']').ok_or("package.json's files do not end")? + 1;
    let mut manifest = format!("{}{files}{}", &manifest[..start], &manifest[end..]);
    let scripts = manifest.find("  \"scripts\":").ok_or("package.json has no scripts")?;
    let scripts_end = scripts + manifest[scripts..].find("  }").ok_or("package.json's scripts do not end")? + 3;
    manifest.replace_range(scripts..scripts_end, &format!("  \"optionalDependencies\": {{\n{optional}\n  }}"));
    Ok(manifest)
}

/// The workspace's one version (Cargo.toml's `[workspace.package]`).
pub(crate) fn workspace_version(env: &BuildEnv) -> Result<String, String> {
    let manifest = std::fs::read_to_string(env.root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \"")?.strip_suffix('"').map(str::to_owned))
        .ok_or_else(|| "no version in Cargo.toml".to_owned())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to).map(drop).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
