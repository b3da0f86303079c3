//! The chaos soak (cache_testkit::soak, docs/reliability.md) against the
//! test server, through the kit's `ChopProxy`: tasks set, get, refresh and
//! remove versioned values while the proxy stalls (the server looks
//! frozen), cuts replies mid-way, cuts every connection and refuses (the
//! server looks down). No wrong value, and no error slower than the
//! configured timeouts, may appear. `CACHE_SOAK_SECS` sets its length
//! (default 30 s: each of the four faults once).

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use cache_sqlserver::{ConnectionString, SqlServerCache};
use cache_testkit::proxy::{ChopProxy, ProxyChaos};
use cache_testkit::soak::{self, SoakConfig};

use crate::common::{self, Tables};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

fn soak_duration() -> Duration {
    let secs = std::env::var("CACHE_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_through_proxy_faults_has_no_wrong_value() {
    let Some(cs) = common::connection_string("the chaos soak") else {
        return;
    };
    let parsed = ConnectionString::parse(&cs).expect("CACHE_TEST_SQLSERVER parses");
    let upstream = (parsed.host(), parsed.port())
        .to_socket_addrs()
        .expect("the server's address resolves")
        .next()
        .expect("the server has an address");
    let proxy = Arc::new(ChopProxy::start(upstream).expect("proxy in front of the server"));
    let tables = Tables::new(&cs);
    let table = tables.create("soak").await;
    let cache = SqlServerCache::builder()
        .connection(parsed.with_address("127.0.0.1", proxy.port()))
        .schema(table.schema())
        .table(table.table())
        .connect_timeout(CONNECT_TIMEOUT)
        .command_timeout(COMMAND_TIMEOUT)
        .build()
        .expect("a valid configuration");
    let mut config = SoakConfig::short(soak_duration());
    config.op_timeout = CONNECT_TIMEOUT + COMMAND_TIMEOUT;
    // Longer than the timeouts, so operations fail during a stall.
    config.fault_for = Duration::from_secs(5);
    config.calm_for = Duration::from_secs(1);
    let mut chaos = ProxyChaos::new(Arc::clone(&proxy));
    let report = soak::run(Arc::new(cache), &mut chaos, &config).await;
    eprintln!("sqlserver soak ({:?}):\n{report}", config.duration);
    report.assert_clean();
    assert!(report.hits > 0, "no get ever hit: {report}");
    assert!(
        report.errors > 0,
        "no fault ever failed an operation: {report}"
    );
    assert_eq!(
        report.faults.len(),
        ProxyChaos::FAULTS.len(),
        "not every fault ran"
    );
}
