//! The chaos soak against a real redis-server (see `cache_testkit::soak` and
//! docs/reliability.md): tasks set, get, refresh and remove versioned
//! values while the server is SIGSTOPped, killed and restarted, and a proxy
//! between the cache and the server cuts connections mid-reply. No wrong
//! value, and no error slower than the configured timeouts, may appear. The
//! proxy also stalls (the server looks frozen) and refuses (it looks down).
//!
//! `CACHE_SOAK_SECS` sets the run's length (default 24 s, enough for each
//! of the six faults once; the long run in docs/reliability.md used 600).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cache_redis::RedisCache;
use cache_testkit::async_trait;
use cache_testkit::proxy::{ChopProxy, ProxyChaos};
use cache_testkit::redis_server::RedisServer;
use cache_testkit::soak::{self, Chaos, Fault, SoakConfig};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The server's own faults; the proxy's ([`ProxyChaos::FAULTS`]) follow.
const SERVER_FAULTS: [Fault; 2] = [
    Fault {
        name: "server paused (SIGSTOP)",
        loses_data: false,
    },
    Fault {
        name: "server killed and restarted empty",
        loses_data: true,
    },
];

/// A redis-server behind a [`ChopProxy`]; the cache talks to the proxy.
struct RedisChaos {
    server: RedisServer,
    proxy: Arc<ChopProxy>,
    proxy_faults: ProxyChaos,
    /// The paused server's process id, while paused.
    paused: Option<String>,
}

impl RedisChaos {
    fn start() -> RedisChaos {
        let server = RedisServer::start();
        let upstream = ([127, 0, 0, 1], server.port()).into();
        let proxy = Arc::new(ChopProxy::start(upstream).expect("proxy in front of redis-server"));
        RedisChaos {
            server,
            proxy_faults: ProxyChaos::new(Arc::clone(&proxy)),
            proxy,
            paused: None,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}/", self.proxy.addr())
    }

    /// redis-server's own process id, from `INFO server`.
    fn pid(&self) -> String {
        let info = self
            .server
            .command(&["INFO", "server"])
            .expect("INFO server");
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .map(|p| p.trim().to_string())
            .expect("INFO server has process_id")
    }
}

fn signal(pid: &str, sig: &str) {
    let status = Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

#[async_trait]
impl Chaos for RedisChaos {
    fn faults(&self) -> Vec<Fault> {
        SERVER_FAULTS
            .iter()
            .chain(&ProxyChaos::FAULTS)
            .copied()
            .collect()
    }

    async fn inject(&mut self, fault: usize) {
        match fault {
            0 => {
                let pid = self.pid();
                signal(&pid, "-STOP");
                self.paused = Some(pid);
            }
            1 => tokio::task::block_in_place(|| self.server.restart()),
            n => self.proxy_faults.inject(n - SERVER_FAULTS.len()).await,
        }
    }

    async fn heal(&mut self, fault: usize) {
        match fault {
            0 => {
                if let Some(pid) = self.paused.take() {
                    signal(&pid, "-CONT");
                }
            }
            1 => {}
            n => self.proxy_faults.heal(n - SERVER_FAULTS.len()).await,
        }
    }
}

impl Drop for RedisChaos {
    fn drop(&mut self) {
        // A stopped process can still be killed, but let it run so the
        // fixture's kill-and-wait ends it the usual way.
        if let Some(pid) = self.paused.take() {
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
        }
    }
}

fn soak_duration() -> Duration {
    let secs = std::env::var("CACHE_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(24);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_under_pauses_restarts_and_cut_replies_has_no_wrong_value() {
    let mut chaos = RedisChaos::start();
    let cache = RedisCache::builder()
        .url(&chaos.url())
        .connect_timeout(CONNECT_TIMEOUT)
        .command_timeout(COMMAND_TIMEOUT)
        .build()
        .expect("cache through the proxy");
    let mut config = SoakConfig::short(soak_duration());
    config.op_timeout = CONNECT_TIMEOUT + COMMAND_TIMEOUT;
    // Longer than the timeouts, so operations fail during a pause.
    config.fault_for = Duration::from_millis(1800);
    let report = soak::run(Arc::new(cache), &mut chaos, &config).await;
    eprintln!("redis soak ({:?}):\n{report}", config.duration);
    eprintln!(
        "proxy: {} connections accepted, {} replies cut mid-way",
        chaos.proxy.accepted(),
        chaos.proxy.replies_cut()
    );
    report.assert_clean();
    // The soak must have exercised what it claims to.
    assert!(report.hits > 0, "no get ever hit: {report}");
    assert!(
        report.errors > 0,
        "no fault ever failed an operation: {report}"
    );
    assert!(chaos.proxy.replies_cut() > 0, "no reply was cut");
    assert_eq!(
        report.faults.len(),
        SERVER_FAULTS.len() + ProxyChaos::FAULTS.len(),
        "not every fault ran"
    );
}
