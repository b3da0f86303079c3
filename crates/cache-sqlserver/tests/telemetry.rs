//! With no server (a refused port): a failed checkout is a `tracing` event,
//! and the pool's gauges (`db.client.connection.*`, feature `metrics`) say
//! what the pool holds: nothing open, nothing waiting, its maximum.

use std::time::Duration;

use cache_abstractions::instrument::names;
use cache_abstractions::DistributedCache;
use cache_sqlserver::SqlServerCache;
use cache_testkit::telemetry::Capture;

#[test]
fn a_refused_connect_is_an_event_and_the_gauges_show_an_empty_pool() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let capture = Capture::new();
    capture.block_on(async {
        let cache = SqlServerCache::builder()
            .connection_string(&format!(
                "Server=tcp:127.0.0.1,{port};Database=d;User Id=sa;Password=Hunter2!;TrustServerCertificate=true"
            ))
            .schema("dbo")
            .table("Cache")
            .pool_size(5)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        cache.get("k").await.unwrap_err();
    });
    capture.assert_message("cache-sqlserver: no pooled connection");
    let gauges = capture.gauges();
    let gauge = |key: String| {
        *gauges
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {gauges:?}"))
    };
    let system = format!("{}=microsoft.sql_server", names::SYSTEM);
    assert_eq!(gauge(format!("{}{{{system}}}", names::CONNECTION_MAX)), 5.0);
    for state in ["idle", "used"] {
        let key = format!(
            "{}{{{}={state},{system}}}",
            names::CONNECTION_COUNT,
            names::CONNECTION_STATE
        );
        assert_eq!(gauge(key), 0.0, "{gauges:?}");
    }
    assert_eq!(
        gauge(format!("{}{{{system}}}", names::CONNECTION_PENDING)),
        0.0
    );
}
