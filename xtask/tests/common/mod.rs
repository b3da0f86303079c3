//! What the xtask test files share.

use std::path::{Path, PathBuf};

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// A `key = "value"` setting of the root manifest (the first one: those of
/// `[workspace.package]` come before any dependency table).
pub fn workspace_setting(key: &str) -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    let prefix = format!("{key} = \"");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("the root manifest sets {key}"))
        .to_string()
}
