//! Repository rules checked as ordinary tests (after rust-analyzer's
//! `tidy.rs`): the publishing layout can't silently rot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{root, workspace_setting};
use serde_json::Value;

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

/// crates.io's category slugs this workspace may use (crates.io rejects
/// unknown ones at publish time; add a slug here only if crates.io has it).
const CATEGORIES: &[&str] = &[
    "api-bindings",
    "asynchronous",
    "caching",
    "command-line-utilities",
    "concurrency",
    "config",
    "data-structures",
    "database",
    "database-implementations",
    "development-tools",
    "development-tools::debugging",
    "development-tools::profiling",
    "development-tools::testing",
    "encoding",
    "memory-management",
    "network-programming",
    "web-programming",
    "web-programming::http-server",
];

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn publishable_crates_have_their_metadata_and_readme() {
    // One constant, in the root manifest's `[workspace.package]`.
    let repository = workspace_setting("repository");
    assert!(repository.starts_with("https://"), "{repository}");
    for p in packages().iter().filter(|p| publishable(p)) {
        let name = p["name"].as_str().unwrap_or_default();
        for field in [
            "description",
            "license",
            "readme",
            "repository",
            "homepage",
            "documentation",
        ] {
            let v = p[field].as_str().unwrap_or_default();
            assert!(!v.is_empty() && v != "TODO", "{name} has no {field}");
        }
        assert_eq!(
            p["repository"], repository,
            "{name}: use `repository.workspace = true`"
        );
        assert_eq!(
            p["documentation"],
            format!("https://docs.rs/{name}"),
            "{name}: documentation should be its docs.rs page"
        );

        let keywords = strings(&p["keywords"]);
        assert!(
            (1..=5).contains(&keywords.len()),
            "{name}: crates.io takes 1 to 5 keywords, not {keywords:?}"
        );
        for k in keywords {
            let valid = k.len() <= 20
                && k.starts_with(|c: char| c.is_ascii_alphabetic())
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c));
            assert!(valid, "{name}: crates.io rejects the keyword {k:?}");
        }
        let categories = strings(&p["categories"]);
        assert!(
            (1..=5).contains(&categories.len()),
            "{name}: crates.io takes 1 to 5 categories, not {categories:?}"
        );
        for c in categories {
            assert!(
                CATEGORIES.contains(&c),
                "{name}: {c:?} is not a crates.io category slug listed in tidy.rs"
            );
        }

        let docs_rs = &p["metadata"]["docs"]["rs"];
        assert!(
            docs_rs.is_object(),
            "{name}: no [package.metadata.docs.rs] (say which features docs.rs builds)"
        );
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().expect("manifest in a folder");
        let uses_docsrs_cfg = rust_files(&dir.join("src"))
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains("cfg_attr(docsrs")));
        if uses_docsrs_cfg {
            assert!(
                strings(&docs_rs["rustdoc-args"]).windows(2).any(|w| w == ["--cfg", "docsrs"]),
                "{name} uses cfg(docsrs): its docs.rs metadata must pass rustdoc-args = [\"--cfg\", \"docsrs\"]"
            );
        }

        let readme = dir.join(p["readme"].as_str().unwrap_or_default());
        assert!(readme.is_file(), "{name}: readme {readme:?} is missing");
        assert!(
            readme.starts_with(dir),
            "{name}: readme outside the crate folder breaks cargo package"
        );
        let text = std::fs::read_to_string(&readme).expect("readme is UTF-8");
        let problems = readme_problems(&text);
        assert!(
            problems.is_empty(),
            "{name}: {readme:?} would not render on crates.io:\n{}",
            problems.join("\n")
        );
    }
}

/// What breaks a README on crates.io: rustdoc's hidden `# ` lines inside Rust
/// code blocks (shown there verbatim), and relative links or images (they
/// resolve against crates.io, not the repository).
fn readme_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fence: Option<bool> = None; // Some(is_rust) inside a code block
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(info.is_empty() || info.starts_with("rust")),
            };
            continue;
        }
        match fence {
            Some(true) => {
                if trimmed == "#" || trimmed.starts_with("# ") {
                    problems.push(format!("line {n}: hidden doc-test line {line:?}"));
                }
            }
            Some(false) => {}
            None => {
                for target in link_targets(line) {
                    let absolute = ["https://", "http://", "#", "mailto:"]
                        .iter()
                        .any(|p| target.starts_with(p));
                    if !absolute {
                        problems.push(format!("line {n}: relative link {target:?}"));
                    }
                }
            }
        }
    }
    problems
}

/// The targets of `[text](target)` links, `![alt](target)` images and
/// `src="target"` attributes on one line.
fn link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (open, close) in [("](", ')'), ("src=\"", '"')] {
        let mut rest = line;
        while let Some(i) = rest.find(open) {
            rest = &rest[i + open.len()..];
            let end = rest.find(close).unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn the_readme_check_bites() {
    let hidden = "```rust\n# async fn f() {\nlet x = 1;\n# }\n```\n";
    assert_eq!(readme_problems(hidden).len(), 2);
    let toml_comment = "```toml\n# a comment\n```\n";
    assert!(readme_problems(toml_comment).is_empty());
    let relative = "See [the guide](../../docs/guide.md) and ![plot](docs/a.svg).\n";
    assert_eq!(readme_problems(relative).len(), 2);
    let absolute = "See [it](https://example.com/a) and [below](#usage).\n";
    assert!(readme_problems(absolute).is_empty());
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

/// `major.minor[.patch]` as numbers, a missing patch as 0: "1.9" < "1.89" = "1.89.0".
fn rust_version(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|n| n.parse().unwrap_or(0));
    [(); 3].map(|()| parts.next().unwrap_or(0))
}

fn host() -> String {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// Every package in the lock file that builds here (the host's platform),
/// with the `rust-version` its registry manifest declares.
fn locked_packages() -> Vec<Value> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host()])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    all["packages"].as_array().cloned().unwrap_or_default()
}

#[test]
fn locked_dependencies_fit_the_msrv() {
    let msrv = workspace_setting("rust-version");
    let msrv = msrv.as_str();
    let members = workspace_names();
    let mut too_new = Vec::new();
    for p in locked_packages() {
        let name = p["name"].as_str().unwrap_or_default();
        let Some(needs) = p["rust_version"].as_str() else {
            continue; // declares none
        };
        if members.iter().any(|m| m == name) {
            assert_eq!(
                needs, msrv,
                "{name}: use `rust-version.workspace = true` (one MSRV for the workspace)"
            );
        } else if rust_version(needs) > rust_version(msrv) {
            too_new.push(format!(
                "{name} {} needs {needs}",
                p["version"].as_str().unwrap_or("?")
            ));
        }
    }
    assert!(
        too_new.is_empty(),
        "the workspace declares rust-version {msrv}, but locked dependencies need more \
         (raise rust-version, or `cargo update -p NAME --precise VERSION` to an older one):\n{}",
        too_new.join("\n")
    );
}

#[test]
fn rust_versions_compare_as_numbers() {
    assert!(rust_version("1.89") > rust_version("1.9"));
    assert_eq!(rust_version("1.89.0"), rust_version("1.89"));
    assert!(rust_version("1.89.1") > rust_version("1.89"));
    assert!(rust_version("1.88") < rust_version("1.89.0"));
    assert!(rust_version("2.0") > rust_version("1.100"));
}
