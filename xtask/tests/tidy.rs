//! Repository rules checked as ordinary tests (after rust-analyzer's
//! `tidy.rs`): the publishing layout can't silently rot.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn packages() -> Vec<Value> {
    metadata()["packages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn publishable(p: &Value) -> bool {
    // `publish = false` shows up as an empty registry list.
    !matches!(p["publish"].as_array(), Some(list) if list.is_empty())
}

fn workspace_names() -> Vec<String> {
    packages()
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn internal_normal_dependencies_carry_a_version() {
    let internal = workspace_names();
    for p in packages().iter().filter(|p| publishable(p)) {
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let name = d["name"].as_str().unwrap_or_default();
            let is_dev = d["kind"].as_str() == Some("dev");
            if internal.iter().any(|n| n == name) && !is_dev {
                assert_ne!(
                    d["req"].as_str(),
                    Some("*"),
                    "{} depends on {name} without a version: it could not be published",
                    p["name"]
                );
            }
        }
    }
}

#[test]
fn the_testkit_is_a_path_only_dev_dependency() {
    for p in packages() {
        for d in p["dependencies"].as_array().into_iter().flatten() {
            if d["name"] == "cache-testkit" {
                assert_eq!(
                    d["kind"], "dev",
                    "{} uses the testkit outside tests",
                    p["name"]
                );
                assert_eq!(
                    d["req"], "*",
                    "{}: the testkit dev-dependency must be path-only so publishing strips it",
                    p["name"]
                );
            }
        }
    }
    let kit = packages()
        .into_iter()
        .find(|p| p["name"] == "cache-testkit")
        .expect("the testkit is a member");
    assert!(!publishable(&kit), "cache-testkit must be publish = false");
}

#[test]
fn backends_depend_only_on_the_abstractions() {
    let internal = workspace_names();
    for backend in ["cache-memory", "cache-redis", "cache-sqlserver"] {
        let p = packages()
            .into_iter()
            .find(|p| p["name"] == backend)
            .expect("backend is a member");
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let name = d["name"].as_str().unwrap_or_default();
            if internal.iter().any(|n| n == name) && d["kind"].as_str() != Some("dev") {
                assert_eq!(name, "cache-abstractions", "{backend} depends on {name}");
            }
        }
    }
}

#[test]
fn publishable_crates_have_their_metadata_and_readme() {
    for p in packages().iter().filter(|p| publishable(p)) {
        let name = p["name"].as_str().unwrap_or_default();
        for field in ["description", "license", "readme"] {
            let v = p[field].as_str().unwrap_or_default();
            assert!(!v.is_empty() && v != "TODO", "{name} has no {field}");
        }
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().expect("manifest in a folder");
        let readme = dir.join(p["readme"].as_str().unwrap_or_default());
        assert!(readme.is_file(), "{name}: readme {readme:?} is missing");
        assert!(
            readme.starts_with(dir),
            "{name}: readme outside the crate folder breaks cargo package"
        );
    }
}

#[test]
fn no_source_reaches_outside_its_crate() {
    for p in packages().iter().filter(|p| publishable(p)) {
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().expect("manifest in a folder").join("src");
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for needle in ["include_str!(\"../../", "include_bytes!(\"../../"] {
                assert!(
                    !text.contains(needle),
                    "{file:?} includes a file outside its crate: cargo package would fail"
                );
            }
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}
