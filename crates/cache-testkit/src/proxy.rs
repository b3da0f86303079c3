//! A loopback TCP proxy that breaks connections on purpose, for chaos tests
//! of any network backend (Redis, SQL Server, PostgreSQL): it forwards bytes
//! both ways and, on request, cuts a connection in the middle of a reply
//! (the client gets part of the server's answer, then end-of-stream), cuts
//! every open connection at once, stalls (holds every byte: the server
//! looks frozen) or refuses (the server looks down). [`ProxyChaos`] offers
//! these faults to the [soak](crate::soak).
//!
//! Only `std::net` and threads are used, so the kit needs no extra tokio
//! features and any test can run it beside its own runtime.
//!
//! ```no_run
//! use cache_testkit::proxy::ChopProxy;
//!
//! let upstream = "127.0.0.1:6380".parse().unwrap();
//! let proxy = ChopProxy::start(upstream).unwrap();
//! let url = format!("redis://{}/", proxy.addr()); // point the cache here
//! proxy.cut_mid_reply(3); // the next 3 replies arrive torn, then EOF
//! proxy.cut_all(); // every open connection ends now
//! # let _ = url;
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long the proxy waits for the upstream server to accept a connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes copied per read.
const CHUNK: usize = 16 * 1024;

/// What the proxy's threads share.
#[derive(Default)]
struct Shared {
    /// Replies still to cut (each server-to-client chunk counts as one).
    cuts_pending: AtomicUsize,
    /// Replies cut so far.
    cuts_done: AtomicU64,
    /// Connections accepted so far.
    accepted: AtomicU64,
    /// Both streams of every open connection, for [`ChopProxy::cut_all`].
    open: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
    /// Bytes are held, not forwarded (a frozen server, seen from a client).
    stalled: AtomicBool,
    /// New connections are closed at once (a server that is down).
    refusing: AtomicBool,
    stopping: AtomicBool,
}

impl Shared {
    fn open_streams(&self) -> std::sync::MutexGuard<'_, Vec<(u64, TcpStream, TcpStream)>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one pending cut, if any.
    fn take_cut(&self) -> bool {
        self.cuts_pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// A TCP proxy on a free loopback port in front of `upstream`; stops (and
/// closes every connection) on drop.
pub struct ChopProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for ChopProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChopProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("accepted", &self.accepted())
            .field("replies_cut", &self.replies_cut())
            .finish()
    }
}

impl ChopProxy {
    /// Listens on `127.0.0.1:<free port>` and forwards every connection to
    /// `upstream`. When the upstream refuses, the client's connection is
    /// closed at once (as a refused connect would fail it).
    pub fn start(upstream: SocketAddr) -> io::Result<ChopProxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("chop-proxy-accept".into())
                .spawn(move || accept_loop(&listener, upstream, &shared))?
        };
        Ok(ChopProxy {
            addr,
            upstream,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Cuts the next `n` replies: each of the next `n` server-to-client
    /// reads is forwarded only in part (its first half, at least one byte
    /// when it has two or more), then that connection is shut down both
    /// ways. Calls add up.
    pub fn cut_mid_reply(&self, n: usize) {
        self.shared.cuts_pending.fetch_add(n, Ordering::AcqRel);
    }

    /// Cuts still pending (asked for and not yet applied to a reply).
    pub fn cuts_pending(&self) -> usize {
        self.shared.cuts_pending.load(Ordering::Acquire)
    }

    /// Forgets pending cuts that no reply has met yet.
    pub fn clear_cuts(&self) {
        self.shared.cuts_pending.store(0, Ordering::Release);
    }

    /// Shuts down every open connection now (both directions, both sides).
    /// New connections are accepted as usual.
    pub fn cut_all(&self) {
        for (_, client, server) in self.shared.open_streams().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// While `true`, no byte is forwarded either way (connections stay
    /// open): to a client the server looks frozen, as under SIGSTOP.
    pub fn stall(&self, stalled: bool) {
        self.shared.stalled.store(stalled, Ordering::Release);
    }

    /// While `true`, every open connection is cut and new ones are closed
    /// as soon as they are accepted: the server looks down.
    pub fn refuse(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::Release);
        if refusing {
            self.cut_all();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Replies cut in the middle so far.
    pub fn replies_cut(&self) -> u64 {
        self.shared.cuts_done.load(Ordering::Acquire)
    }
}

impl Drop for ChopProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.cut_all();
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    for (id, client) in (0u64..).zip(listener.incoming()) {
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::AcqRel);
        if shared.refusing.load(Ordering::Acquire) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&upstream, UPSTREAM_CONNECT_TIMEOUT) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        if let Err(e) = relay(id, client, server, shared) {
            // Out of threads or descriptors: the test will see the
            // connection fail; say why on stderr.
            eprintln!("chop proxy: cannot relay a connection: {e}");
        }
    }
}

/// Starts the two copying threads of one connection.
fn relay(id: u64, client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    shared
        .open_streams()
        .push((id, client.try_clone()?, server.try_clone()?));
    let up = (client.try_clone()?, server.try_clone()?);
    let down = (server, client);
    let s = Arc::clone(shared);
    thread::Builder::new()
        .name("chop-proxy-up".into())
        .spawn(move || copy(id, up.0, up.1, None, &s))?;
    let s = Arc::clone(shared);
    thread::Builder::new()
        .name("chop-proxy-down".into())
        .spawn(move || copy(id, down.0, down.1, Some(()), &s))?;
    Ok(())
}

/// Copies `from` to `to` until either side ends; `replies` marks the
/// server-to-client direction, where pending cuts apply. Ends the whole
/// connection when done, so neither side waits on a half-open one.
fn copy(id: u64, mut from: TcpStream, mut to: TcpStream, replies: Option<()>, shared: &Shared) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while shared.stalled.load(Ordering::Acquire) && !shared.stopping.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(5));
        }
        if replies.is_some() && shared.take_cut() {
            let keep = (n / 2).max(usize::from(n > 1));
            let _ = to.write_all(&buf[..keep]);
            let _ = to.flush();
            shared.cuts_done.fetch_add(1, Ordering::AcqRel);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    shared.open_streams().retain(|(open, _, _)| *open != id);
}

/// The proxy's faults as a soak [`Chaos`](crate::soak::Chaos) hook, for
/// any backend reached through it: a stall (the server looks frozen),
/// replies cut mid-way, every connection cut, and refusal (the server looks
/// down). None loses data.
#[derive(Debug, Clone)]
pub struct ProxyChaos {
    proxy: std::sync::Arc<ChopProxy>,
}

impl ProxyChaos {
    /// Faults through `proxy`.
    pub fn new(proxy: std::sync::Arc<ChopProxy>) -> Self {
        ProxyChaos { proxy }
    }

    /// The faults, in the order a soak goes round them.
    pub const FAULTS: [crate::soak::Fault; 4] = [
        crate::soak::Fault {
            name: "proxy stalled (server frozen)",
            loses_data: false,
        },
        crate::soak::Fault {
            name: "replies cut mid-way by the proxy",
            loses_data: false,
        },
        crate::soak::Fault {
            name: "every connection cut by the proxy",
            loses_data: false,
        },
        crate::soak::Fault {
            name: "proxy refusing (server down)",
            loses_data: false,
        },
    ];
}

#[async_trait::async_trait]
impl crate::soak::Chaos for ProxyChaos {
    fn faults(&self) -> Vec<crate::soak::Fault> {
        ProxyChaos::FAULTS.to_vec()
    }

    async fn inject(&mut self, fault: usize) {
        match fault {
            0 => self.proxy.stall(true),
            // Every reply during the fault is cut (far more than can pass).
            1 => self.proxy.cut_mid_reply(1_000_000),
            2 => self.proxy.cut_all(),
            _ => self.proxy.refuse(true),
        }
    }

    async fn heal(&mut self, fault: usize) {
        match fault {
            0 => self.proxy.stall(false),
            1 => self.proxy.clear_cuts(),
            2 => {}
            _ => self.proxy.refuse(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port: returns what it reads.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut s = stream;
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    #[test]
    fn forwards_both_ways() {
        let proxy = ChopProxy::start(echo_server()).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        assert_eq!(proxy.replies_cut(), 0);
    }

    #[test]
    fn cuts_a_reply_in_the_middle_then_ends_the_connection() {
        let proxy = ChopProxy::start(echo_server()).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        proxy.cut_mid_reply(1);
        c.write_all(b"0123456789").unwrap();
        let got = read_to_end(&mut c);
        assert!(
            !got.is_empty() && got.len() < 10 && b"0123456789".starts_with(&got),
            "expected a strict prefix of the reply, got {got:?}"
        );
        assert_eq!(proxy.replies_cut(), 1);
        assert_eq!(proxy.cuts_pending(), 0);
        // The next connection is whole again.
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"ok").unwrap();
        let mut got = [0u8; 2];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ok");
    }

    #[test]
    fn cut_all_ends_open_connections() {
        let proxy = ChopProxy::start(echo_server()).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut one).unwrap();
        proxy.cut_all();
        assert_eq!(read_to_end(&mut c), b"");
    }

    #[test]
    fn a_stall_holds_bytes_until_it_ends() {
        let proxy = ChopProxy::start(echo_server()).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        proxy.stall(true);
        c.write_all(b"held").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = [0u8; 4];
        assert!(
            c.read_exact(&mut got).is_err(),
            "bytes passed a stalled proxy"
        );
        proxy.stall(false);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"held");
    }

    #[test]
    fn refusing_cuts_and_closes_until_it_ends() {
        let proxy = ChopProxy::start(echo_server()).unwrap();
        let mut open = TcpStream::connect(proxy.addr()).unwrap();
        open.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        open.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        open.read_exact(&mut one).unwrap();
        proxy.refuse(true);
        assert_eq!(read_to_end(&mut open), b"");
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(read_to_end(&mut c), b"");
        proxy.refuse(false);
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"y").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"y");
    }

    #[test]
    fn a_refused_upstream_closes_the_client() {
        // A port that was free a moment ago: nothing listens there.
        let dead = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = ChopProxy::start(dead).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(read_to_end(&mut c), b"");
    }
}
