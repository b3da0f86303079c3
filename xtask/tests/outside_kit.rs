//! The conformance kit used from outside this workspace, as docs/testkit.md
//! tells a backend author to: a scratch crate in a temporary folder takes the
//! dependency section printed in the guide (its git sources replaced by
//! paths into this checkout, which is what a git dependency resolves to) and
//! runs the whole kit against a toy backend.
//!
//! The toy's library implements the trait from its own `cache-abstractions`
//! dependency while its test names the kit's re-export: if the two were
//! different copies, the scratch crate would not compile.

mod common;

use std::path::Path;
use std::process::Command;

use common::{root, workspace_setting};

/// The ```toml block of docs/testkit.md that takes the kit by git.
fn documented_dependencies() -> String {
    let guide = std::fs::read_to_string(root().join("docs/testkit.md")).expect("docs/testkit.md");
    guide
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("cache-testkit = { git"))
        .expect("docs/testkit.md shows the kit as a git dependency in a ```toml block")
        .to_string()
}

/// The guide's section with each `git = REPOSITORY` replaced by the path of
/// the crate it names in this checkout.
fn with_paths(section: &str) -> String {
    // The repository the guide's git dependencies point at.
    let git = format!("git = \"{}\"", workspace_setting("repository"));
    section
        .lines()
        .map(|line| {
            let crate_name = line.split_whitespace().next().unwrap_or_default();
            if line.contains(&git) {
                let dir = root().join("crates").join(crate_name);
                assert!(
                    dir.is_dir(),
                    "the guide names {crate_name}, not a crate here"
                );
                line.replace(&git, &format!("path = {:?}", dir.display().to_string()))
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const TOY_LIB: &str = r#"//! A toy backend: the memory cache behind a type of its own.
use cache_abstractions::{
    async_trait, Bytes, Capabilities, DistributedCache, EntryInfo, EntryOptions, Result,
};

#[derive(Debug, Default)]
pub struct ToyCache(cache_memory::MemoryCache);

#[async_trait]
impl DistributedCache for ToyCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        self.0.set(key, value, options).await
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        self.0.refresh(key).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.0.remove(key).await
    }
    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        self.0.inspect(key).await
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
}
"#;

const TOY_TEST: &str = r#"use std::sync::Arc;

use cache_testkit::cache_abstractions::{DistributedCache, Result};
use cache_testkit::{async_trait, Harness};

struct Toy;

#[async_trait]
impl Harness for Toy {
    async fn cache(&self, _namespace: &str) -> Result<Arc<dyn DistributedCache>> {
        Ok(Arc::new(toy_backend::ToyCache::default()))
    }
    fn skip_reason(&self) -> &'static str {
        "in-process: no server to lose, no foreign data"
    }
}

async fn harness() -> Toy {
    Toy
}

cache_testkit::conformance_suite!(harness);
"#;

#[test]
fn the_kit_runs_from_a_crate_outside_the_workspace() {
    let scratch = std::env::temp_dir().join(format!("outside-kit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("src")).expect("scratch src");
    std::fs::create_dir_all(scratch.join("tests")).expect("scratch tests");
    let memory = root().join("crates/cache-memory").display().to_string();
    let manifest = format!(
        "[package]\nname = \"toy-backend\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         publish = false\n\n{}\n\n# The toy's store (not part of the guide's section).\n\
         [dependencies.cache-memory]\npath = {memory:?}\n\n[workspace]\n",
        with_paths(&documented_dependencies())
    );
    std::fs::write(scratch.join("Cargo.toml"), &manifest).expect("scratch manifest");
    std::fs::write(scratch.join("src/lib.rs"), TOY_LIB).expect("scratch lib");
    std::fs::write(scratch.join("tests/conformance.rs"), TOY_TEST).expect("scratch test");
    // The workspace's lock file: the same versions, so nothing is fetched.
    std::fs::copy(root().join("Cargo.lock"), scratch.join("Cargo.lock")).expect("lock file");

    // A target folder of its own that persists between runs (the outer
    // cargo may hold the workspace's), so only the first run builds tokio.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("outside-kit-target");
    let out = Command::new(env!("CARGO"))
        .args(["test", "--offline", "--test", "conformance", "--"])
        .args(["--test-threads", "16"])
        .current_dir(&scratch)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CACHE_TESTKIT_STRICT")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        out.status.success(),
        "the scratch crate failed\n--- Cargo.toml\n{manifest}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for case in [
        "rule_01_round_trip_small_values",
        "rule_08_get_restarts_window",
    ] {
        assert!(
            stdout.contains(&format!("test {case} ... ok")),
            "{case} did not run:\n{stdout}"
        );
    }
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
