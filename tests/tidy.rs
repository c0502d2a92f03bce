//! Repository rules checked as ordinary tests (rust-analyzer's "tidy"):
//! what reviewers would otherwise have to remember.

use std::fs;
use std::path::{Path, PathBuf};

use ivm_tests::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != "node_modules" && !name.to_string_lossy().starts_with('.') {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["crates", "bindings", "xtask", "tests", "benches"] {
        if root.join(dir).exists() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn crate_roots_open_with_a_doc_paragraph() {
    let root = repo_root();
    let roots: Vec<PathBuf> = all_rust_files()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap();
            (name == "lib.rs" || name == "main.rs") && !p.starts_with(root.join("tests").join("fixtures"))
        })
        .collect();
    assert!(roots.len() >= 8, "found only {roots:?}");
    for path in roots {
        assert!(read(&path).starts_with("//!"), "{} must open with a //! paragraph", path.display());
    }
}

#[test]
fn every_unsafe_block_says_why_it_is_sound() {
    for path in all_rust_files() {
        if path.ends_with("tidy.rs") {
            continue;
        }
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !(code.contains("unsafe {") || code.contains("unsafe impl")) {
                continue;
            }
            let window = &lines[i.saturating_sub(8)..=i];
            assert!(
                window.iter().any(|l| l.contains("SAFETY:")),
                "{}:{}: unsafe without a `SAFETY:` comment",
                path.display(),
                i + 1
            );
        }
    }
}

#[test]
fn no_placeholders_in_shipped_code() {
    for path in all_rust_files() {
        if path.ends_with("tidy.rs") {
            continue;
        }
        let text = read(&path);
        for marker in ["todo!(", "unimplemented!(", "dbg!("] {
            assert!(!text.contains(marker), "{} contains {marker}", path.display());
        }
    }
}

#[test]
fn one_version_for_the_whole_workspace() {
    let root = repo_root();
    let mut manifests =
        vec![root.join("xtask/Cargo.toml"), root.join("tests/Cargo.toml"), root.join("benches/Cargo.toml")];
    for dir in ["crates", "bindings"] {
        if let Ok(entries) = fs::read_dir(root.join(dir)) {
            manifests.extend(entries.flatten().map(|e| e.path().join("Cargo.toml")).filter(|p| p.exists()));
        }
    }
    for manifest in manifests {
        let text = read(&manifest);
        assert!(text.contains("version.workspace = true"), "{} must take the workspace version", manifest.display());
    }
}

#[test]
fn the_node_package_has_the_workspace_version() {
    let root = repo_root();
    let workspace = read(&root.join("Cargo.toml"));
    let version = workspace
        .split("[workspace.package]")
        .nth(1)
        .and_then(|table| table.split("version = \"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("the workspace has a version");
    let package = read(&root.join("bindings/node/package.json"));
    assert!(
        package.contains(&format!("\"version\": \"{version}\"")),
        "bindings/node/package.json must have the workspace's version {version}"
    );
}

#[test]
fn the_python_package_takes_the_workspace_version() {
    // maturin reads it from bindings/python/Cargo.toml, which inherits it.
    let pyproject = read(&repo_root().join("bindings/python/pyproject.toml"));
    assert!(pyproject.contains("dynamic = [\"version\"]"), "pyproject.toml must take its version from Cargo");
    let project = pyproject.split("[project]").nth(1).unwrap_or_default();
    let project = project.split("\n[").next().unwrap_or_default();
    assert!(
        !project.lines().any(|line| line.starts_with("version")),
        "pyproject.toml must not set a version of its own"
    );
}

#[test]
fn dependencies_point_one_way() {
    let root = repo_root();
    // The dependency tables of a crate's manifest (everything after its
    // first `[dependencies]`-like header).
    let manifest = |krate: &str| {
        let text = read(&root.join("crates").join(krate).join("Cargo.toml"));
        text.find("dependencies]").map(|at| text[at..].to_owned()).unwrap_or_default()
    };
    let runtime = manifest("ivm-runtime");
    assert!(!runtime.contains("v8"), "ivm-runtime must not know V8");
    assert!(!runtime.contains("ivm-"), "ivm-runtime depends on no other ivm crate");
    let marshal = manifest("ivm-marshal");
    assert!(!marshal.contains("ivm-core") && !marshal.contains("ivm-runtime"), "ivm-marshal knows only v8");
    for krate in ["ivm-runtime", "ivm-marshal", "ivm-core", "ivm", "ivm-cli"] {
        let text = manifest(krate);
        assert!(!text.contains("napi") && !text.contains("pyo3"), "{krate} must not know a binding");
    }
    let facade = read(&root.join("crates/ivm/src/lib.rs"));
    let code: String = facade.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    for statement in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        assert!(statement.starts_with("pub use ivm_core::"), "the ivm facade only re-exports ivm-core: {statement}");
        for hidden in ["v8", "embedding", "*"] {
            let names = statement.trim_start_matches("pub use ivm_core::");
            assert!(
                !names.split(|c: char| !c.is_alphanumeric() && c != '_' && c != '*').any(|name| name == hidden),
                "the ivm facade must not re-export `{hidden}`: {statement}"
            );
        }
    }
}

#[test]
fn architecture_doc_maps_every_crate() {
    let root = repo_root();
    let doc = read(&root.join("docs/ARCHITECTURE.md"));
    for entry in fs::read_dir(root.join("crates")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(doc.contains(&format!("crates/{name}")), "docs/ARCHITECTURE.md has no entry for crates/{name}");
    }
    assert!(doc.contains("Architecture Invariant"), "invariants are spelled out");
}

#[test]
fn ci_runs_the_readme_test_command() {
    let root = repo_root();
    let readme = read(&root.join("README.md"));
    let ci = read(&root.join(".ci/run"));
    let workflow = read(&root.join(".github/workflows/ci.yml"));
    for command in ["cargo xtask test", "cargo xtask demo"] {
        assert!(readme.contains(command), "README shows `{command}`");
    }
    assert!(ci.contains("cargo xtask test"), ".ci/run runs the README's test command");
    assert!(workflow.contains("cargo xtask test"), "the GitHub workflow runs the same command");
}

/// A panic must never unwind through Node-API (it would abort Node): every
/// function the addon exports is wrapped in napi-rs' `catch_unwind`, which
/// turns it into a thrown Error. (pyo3 catches panics on its own, raising
/// `PanicException`.)
#[test]
fn every_node_export_catches_panics() {
    let dir = repo_root().join("bindings/node/src");
    let mut exports = 0;
    for path in fs::read_dir(&dir).unwrap().flatten().map(|entry| entry.path()) {
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let attribute = line.trim();
            if !(attribute.starts_with("#[napi") || attribute.starts_with("#[napi_derive::napi")) {
                continue;
            }
            // The item the attribute is on, past other attributes and their
            // continuation lines.
            let item = lines[i + 1..]
                .iter()
                .map(|line| line.trim())
                .find(|line| line.starts_with("pub ") || line.starts_with("fn ") || line.starts_with("impl"))
                .unwrap_or_default();
            if item.contains("fn ") {
                exports += 1;
                assert!(
                    attribute.contains("catch_unwind"),
                    "{}:{}: `{attribute}` exports a function without `catch_unwind`",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    assert!(exports > 50, "found only {exports} exported functions");
}

/// ivm-core's error classes (`ErrorClass`) are the one table the front-ends
/// raise: Node builds its classes from it at load, and the hand-written
/// declarations of both packages (TypeScript's, Python's classes with their
/// builtin bases) must name every one of them, with Node's codes.
#[test]
fn every_error_class_is_declared_by_both_packages() {
    let typings = read(&repo_root().join("bindings/node/index.d.ts"));
    let python = read(&repo_root().join("bindings/python/python/ivm/errors.py"));
    for class in ivm::ErrorClass::ALL {
        let name = class.name();
        if class == ivm::ErrorClass::Js {
            // JavaScript's own exceptions: the language's own classes in
            // Node, `JSError` in Python.
            assert!(python.contains("class JSError(IvmError)"), "errors.py must define JSError");
            continue;
        }
        let declaration = format!("export declare class {name} extends IvmError {{");
        let at = typings.find(&declaration).unwrap_or_else(|| panic!("index.d.ts must declare {name}"));
        let body = &typings[at..typings[at..].find("\n}").map_or(typings.len(), |end| at + end)];
        assert!(body.contains(&format!("'{}'", class.code())), "index.d.ts: {name}'s code must be {}", class.code());
        assert!(python.contains(&format!("class {name}(IvmError")), "errors.py must define {name}");
        assert!(python.contains(&format!("\"{name}\",")), "errors.py must list {name} in __all__");
    }
}
