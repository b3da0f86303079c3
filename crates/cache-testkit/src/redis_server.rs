//! Throwaway `redis-server` processes for tests: a standalone server (plain
//! or TLS) and a cluster of masters, each on free loopback ports, in a
//! temporary directory of its own, without persistence, killed on drop.
//!
//! Only `std::process` and `std::net` are used, so any backend's tests can
//! depend on the kit without pulling in a Redis client.
//!
//! ```no_run
//! use cache_testkit::redis_server::RedisServer;
//!
//! let mut server = RedisServer::start();
//! let url = server.url(); // redis://127.0.0.1:<port>/
//! server.stop();          // connections break, new ones are refused
//! server.restart();       // same port, empty data set
//! # let _ = url;
//! ```
//!
//! A missing `redis-server` fails the test with a message saying how to
//! install it; tests never fall back to the server on port 6379.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// How long a fresh server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a cluster may take to report `cluster_state:ok`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);
/// The port the machine's own Redis uses: never touched by the fixtures.
const RESERVED_PORT: u16 = 6379;

const INSTALL_HINT: &str =
    "redis-server is required by these tests; install it (Debian/Ubuntu: `apt-get install -y redis-server`)";

/// TLS files for [`RedisServerBuilder::tls`]: PEM paths of the server's
/// certificate, its key, and the CA that signed it.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The CA certificate clients verify the server against (PEM).
    pub ca: PathBuf,
}

/// How to start a [`RedisServer`]: extra `redis-server` arguments, TLS.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct RedisServerBuilder {
    args: Vec<String>,
    tls: Option<TlsFiles>,
}

impl RedisServerBuilder {
    /// Adds one `redis-server` command-line argument (for example
    /// `"--rename-command"`, then `"EVALSHA"`, then `""`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds several `redis-server` command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Serves TLS only (the plain port is disabled); clients need not
    /// present a certificate.
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    /// Starts the server; fails the test when `redis-server` is missing or
    /// does not come up.
    pub fn start(self) -> RedisServer {
        match self.try_start() {
            Ok(s) => s,
            Err(e) => panic!("cannot start redis-server: {e}"),
        }
    }

    /// Starts the server, or says why not.
    pub fn try_start(self) -> io::Result<RedisServer> {
        // A port picked free may be taken before redis-server binds it:
        // try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut server = RedisServer {
                child: None,
                port,
                dir: TempDir::new(&format!("redis-{port}"))?,
                args: self.args.clone(),
                tls: self.tls.clone(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }
}

/// One `redis-server` on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    args: Vec<String>,
    tls: Option<TlsFiles>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl RedisServer {
    /// A plain server with default settings (no persistence).
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    /// A plain server shared by everything in this process that holds the
    /// returned handle: the first call starts it, and it is killed when the
    /// last handle drops (a later call starts a new one). Tests share one
    /// server this way without a `static` that would outlive the process's
    /// tests and leave `redis-server` running.
    pub fn shared() -> Arc<RedisServer> {
        static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());
        let mut slot = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(RedisServer::start());
        *slot = Arc::downgrade(&server);
        server
    }

    /// A builder for extra arguments or TLS.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// The loopback port (the TLS port for a TLS server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The server's temporary directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// Whether the process is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server at once (SIGKILL: no goodbye to clients, as in a
    /// crash). Does nothing when already stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with an empty data set;
    /// fails the test when it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        // The old socket may linger briefly; redis-server binds with
        // SO_REUSEADDR, but retry in case the port is still held.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline && e.kind() != io::ErrorKind::NotFound => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot restart redis-server on port {}: {e}", self.port),
            }
        }
    }

    /// Sends one command over a plain connection and returns the reply as
    /// text (errors come back as `Err`). Not available on a TLS server.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        if self.tls.is_some() {
            return Err(io::Error::other("raw commands need a plain-text server"));
        }
        command(self.port, args)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = Command::new("redis-server");
        let port = self.port.to_string();
        match &self.tls {
            None => {
                cmd.args(["--port", &port]);
            }
            Some(tls) => {
                cmd.args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ]);
                cmd.arg("--tls-cert-file").arg(&tls.cert);
                cmd.arg("--tls-key-file").arg(&tls.key);
                cmd.arg("--tls-ca-cert-file").arg(&tls.ca);
            }
        }
        base_args(&mut cmd, &self.dir.path);
        cmd.args(&self.args);
        let mut child = spawn(cmd)?;
        let ready = if self.tls.is_some() {
            wait_for_listener(self.port, &mut child)
        } else {
            wait_for_ping(self.port, &mut child)
        };
        match ready {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::new(
                    e.kind(),
                    format!("{e}; log: {}", read_log(&self.dir.path)),
                ))
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of masters (no replicas) on loopback ports, killed on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCluster")
            .field("ports", &self.ports())
            .finish()
    }
}

impl RedisCluster {
    /// Starts `masters` cluster-enabled servers (at least 3), forms the
    /// cluster with `redis-cli --cluster create`, and waits until every node
    /// reports `cluster_state:ok`. Fails the test when it cannot.
    pub fn start(masters: usize) -> RedisCluster {
        match RedisCluster::try_start(masters) {
            Ok(c) => c,
            Err(e) => panic!("cannot start a redis cluster: {e}"),
        }
    }

    /// A 3-master cluster shared like [`RedisServer::shared`]: alive while
    /// any returned handle is.
    pub fn shared() -> Arc<RedisCluster> {
        static SHARED: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
        let mut slot = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cluster) = slot.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(RedisCluster::start(3));
        *slot = Arc::downgrade(&cluster);
        cluster
    }

    /// As [`start`](Self::start), returning the error instead.
    pub fn try_start(masters: usize) -> io::Result<RedisCluster> {
        if masters < 3 {
            return Err(io::Error::other("a redis cluster needs at least 3 masters"));
        }
        let mut nodes = Vec::with_capacity(masters);
        for _ in 0..masters {
            let bus = free_port()?;
            let node = RedisServer::builder()
                .arg("--cluster-enabled")
                .arg("yes")
                .arg("--cluster-config-file")
                .arg("nodes.conf")
                .arg("--cluster-node-timeout")
                .arg("5000")
                .arg("--cluster-port")
                .arg(bus.to_string())
                .try_start()?;
            nodes.push(node);
        }
        let cluster = RedisCluster { nodes };
        cluster.form()?;
        Ok(cluster)
    }

    fn form(&self) -> io::Result<()> {
        let mut cli = Command::new("redis-cli");
        cli.arg("--cluster").arg("create");
        for port in self.ports() {
            cli.arg(format!("127.0.0.1:{port}"));
        }
        cli.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = cli.stdin(Stdio::null()).output().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(e.kind(), format!("redis-cli not found: {INSTALL_HINT}"))
            } else {
                e
            }
        })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        self.wait_ok()
    }

    fn wait_ok(&self) -> io::Result<()> {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        for port in self.ports() {
            loop {
                let info = command(port, &["CLUSTER", "INFO"]).unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("node 127.0.0.1:{port} did not reach cluster_state:ok: {info}"),
                    ));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Kills every node at once.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }

    /// Starts every node again on its ports; each reloads its cluster
    /// configuration (kept in its directory) and the cluster re-forms with
    /// the same slots and no data. Fails the test when it does not reach
    /// `cluster_state:ok`.
    pub fn restart(&mut self) {
        for node in &mut self.nodes {
            node.restart();
        }
        if let Err(e) = self.wait_ok() {
            panic!("restarted cluster did not recover: {e}");
        }
    }

    /// The nodes' ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`: every node as seed.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// `redis://127.0.0.1:<port>/` for each node.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// Sends one command to a plain server on `127.0.0.1:port` and returns the
/// reply as text: a status, an integer, or a bulk string (nil as empty).
pub fn command(port: u16, args: &[&str]) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        request.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        request.extend_from_slice(a.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    let (tag, rest) = line.split_at(line.len().min(1));
    match tag {
        "+" | ":" => Ok(rest.to_string()),
        "-" => Err(io::Error::other(rest.to_string())),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| io::Error::other(format!("bad bulk length {rest:?}")))?;
            let Ok(len) = usize::try_from(len) else {
                return Ok(String::new()); // nil
            };
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        _ => Err(io::Error::other(format!("unexpected reply {line:?}"))),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A loopback port nobody listens on now (never 6379).
fn free_port() -> io::Result<u16> {
    loop {
        let port = TcpListener::bind(loopback(0))?.local_addr()?.port();
        if port != RESERVED_PORT {
            return Ok(port);
        }
    }
}

fn base_args(cmd: &mut Command, dir: &Path) {
    cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "redis.log"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
}

fn spawn(mut cmd: Command) -> io::Result<Child> {
    cmd.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(e.kind(), format!("redis-server not found: {INSTALL_HINT}"))
        } else {
            e
        }
    })
}

fn wait_for_ping(port: u16, child: &mut Child) -> io::Result<()> {
    wait_until(child, || {
        command(port, &["PING"]).is_ok_and(|r| r == "PONG")
    })
}

fn wait_for_listener(port: u16, child: &mut Child) -> io::Result<()> {
    wait_until(child, || {
        TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200)).is_ok()
    })
}

fn wait_until(child: &mut Child, mut ready: impl FnMut() -> bool) -> io::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "redis-server exited with {status}"
            )));
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "redis-server did not answer within 10 s",
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn read_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// A directory removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(tag: &str) -> io::Result<TempDir> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("cache-testkit-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_starts_stops_and_restarts_on_its_port() {
        let mut server = RedisServer::start();
        let port = server.port();
        assert_ne!(port, RESERVED_PORT);
        assert_eq!(server.command(&["SET", "k", "v"]).unwrap(), "OK");
        assert_eq!(server.command(&["GET", "k"]).unwrap(), "v");
        server.stop();
        assert!(command(port, &["PING"]).is_err());
        server.restart();
        assert_eq!(server.port(), port);
        assert_eq!(server.command(&["PING"]).unwrap(), "PONG");
        // No persistence: the restarted server is empty.
        assert_eq!(server.command(&["GET", "k"]).unwrap(), "");
    }

    #[test]
    fn error_replies_are_errors() {
        let server = RedisServer::start();
        assert!(server.command(&["NO-SUCH-COMMAND"]).is_err());
    }
}
