//! Servers the tests started and left running.
//!
//! The kit's `redis-server` fixtures run each server in a temporary folder
//! of its own (`cache-testkit-<tag>-<pid>-<n>`) and kill it on drop. A
//! fixture that is never dropped (held in a `static`, or leaked) leaves its
//! server running after the test process, one per test under nextest: on a
//! CI machine they pile up run after run. So the suite counts them: the
//! processes whose working folder is such a folder, before and after.
//! Linux only (`/proc`); elsewhere the check finds nothing.

use std::collections::BTreeMap;
use std::fs;

/// The kit's servers running now: pid → working folder.
pub(crate) fn kit_servers() -> BTreeMap<u32, String> {
    let mut found = BTreeMap::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A zombie or another user's process has no readable cwd: skipped.
        let Ok(cwd) = fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        let cwd = cwd.to_string_lossy().into_owned();
        let in_kit_folder = cwd
            .rsplit('/')
            .next()
            .is_some_and(|name| name.starts_with("cache-testkit-"));
        if in_kit_folder {
            found.insert(pid, cwd);
        }
    }
    found
}

/// Kills the servers that appeared since `before` and says which, as an
/// error: the suite fails until the fixture that leaked them is fixed.
pub(crate) fn check(before: &BTreeMap<u32, String>) -> Result<(), String> {
    let left: Vec<(u32, String)> = kit_servers()
        .into_iter()
        .filter(|(pid, _)| !before.contains_key(pid))
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    for (pid, _) in &left {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    let list: Vec<String> = left.iter().map(|(p, d)| format!("{p} in {d}")).collect();
    Err(format!(
        "the tests left {} kit server(s) running (killed now); a fixture was never \
         dropped (a `static`?): {}",
        left.len(),
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process left running in a kit folder is found, reported and killed;
    /// one running before is not.
    #[test]
    fn a_process_left_in_a_kit_folder_fails_the_check() {
        if !std::path::Path::new("/proc/self/cwd").exists() {
            return; // not Linux: the check finds nothing by design
        }
        let dir =
            std::env::temp_dir().join(format!("cache-testkit-leaktest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("30")
                .current_dir(&dir)
                .spawn()
                .unwrap()
        };
        let mut earlier = spawn();
        let before = kit_servers();
        assert!(before.contains_key(&earlier.id()), "{before:?}");
        assert_eq!(check(&before), Ok(()));
        let mut left = spawn();
        let err = check(&before).unwrap_err();
        assert!(err.contains(&left.id().to_string()), "{err}");
        assert!(!err.contains(&earlier.id().to_string()), "{err}");
        // Killed by the check (reaped here).
        assert!(left.wait().is_ok());
        let _ = earlier.kill();
        let _ = earlier.wait();
        let _ = fs::remove_dir_all(&dir);
    }
}
