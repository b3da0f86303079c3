//! The programs the tests start themselves. They are installed here when
//! missing (as root, with apt-get), and their absence is an error, never a
//! reason to skip: a suite that silently skipped Redis would pass in CI
//! without testing it.

use std::process::Command;

use crate::{run, Result};

/// (program, Debian package) pairs the test suite needs.
const NEEDED: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("redis-cli", "redis-tools"),
    ("openssl", "openssl"),
];

fn present(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        // `openssl --version` is not a valid command; `openssl version` is.
        || Command::new(program)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure every program in [`NEEDED`] runs, installing what is missing,
/// and that the PostgreSQL server the tests use answers.
pub(crate) fn ensure() -> Result {
    ensure_postgres()?;
    let missing: Vec<(&str, &str)> = NEEDED
        .iter()
        .copied()
        .filter(|(program, _)| !present(program))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    if is_root() && present_apt() {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let still: Vec<&str> = missing
        .iter()
        .filter(|(program, _)| !present(program))
        .map(|(program, _)| *program)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the tests need {} (install with: sudo apt-get install -y {})",
            still.join(", "),
            packages.join(" ")
        ))
    }
}

fn present_apt() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The variable naming the PostgreSQL server of the cache-postgres tests.
const POSTGRES_ENV: &str = "CACHE_TEST_POSTGRES";
/// The server every machine of this project (and CI) runs.
const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `host:port` of a `postgres://` URL (the last `@` ends the user info).
fn postgres_addr(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let first = host_port.split(',').next()?;
    if first.is_empty() {
        return None;
    }
    Some(if first.contains(':') {
        first.to_owned()
    } else {
        format!("{first}:5432")
    })
}

fn answers(addr: &str) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    addr.to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok())
    })
}

/// The cache-postgres suite needs a PostgreSQL server; it is started here
/// when it is the machine's own cluster and down, and its absence is an
/// error: the suite would fail anyway, this says why first.
fn ensure_postgres() -> Result {
    let url = std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| POSTGRES_DEFAULT.to_owned());
    // A libpq key=value string: the suite itself reports an unreachable server.
    let Some(addr) = postgres_addr(&url) else {
        return Ok(());
    };
    if answers(&addr) {
        return Ok(());
    }
    if is_root() {
        // Debian's clusters, as the machine starts them before a session.
        let versions = std::fs::read_dir("/etc/postgresql")
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default();
        for v in versions {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect"])
                .arg(&v)
                .args(["main", "start"])
                .status();
        }
        for _ in 0..20 {
            if answers(&addr) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    Err(format!(
        "the cache-postgres tests need a PostgreSQL server at {addr} ({POSTGRES_ENV}, default \
         {POSTGRES_DEFAULT}, trust auth, database test); none answers"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_addresses_come_from_the_url() {
        assert_eq!(
            postgres_addr(POSTGRES_DEFAULT).as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            postgres_addr("postgresql://u:p@ss@db/x?sslmode=require").as_deref(),
            Some("db:5432")
        );
        assert_eq!(
            postgres_addr("postgres://h1:6000,h2/x").as_deref(),
            Some("h1:6000")
        );
        assert_eq!(postgres_addr("host=db"), None);
    }
}
