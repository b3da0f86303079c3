//! Logging in: a rejected password is an Authentication error (issue 9's
//! error model), never shows the password, and `ping` is how a startup
//! check finds it.

use cache_abstractions::{DistributedCache, ErrorKind};
use cache_sqlserver::SqlServerCache;

use crate::common;

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    let Some(cs) = common::connection_string("a_wrong_password_is_an_authentication_error") else {
        return;
    };
    let good = common::parse(&cs);
    let user = good.user().unwrap_or("sa").to_owned();
    let wrong = format!(
        "Server=tcp:{},{};User Id={user};Password=Wr0ng-Pa55;TrustServerCertificate=true",
        good.host(),
        good.port()
    );
    let cache = SqlServerCache::builder()
        .connection_string(&wrong)
        .table("Cache")
        .build()
        .expect("build does no I/O");
    let err = cache.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("Wr0ng-Pa55"));
    let ok = SqlServerCache::builder()
        .connection_string(&cs)
        .table("Cache")
        .build()
        .unwrap();
    ok.ping().await.expect("the right login pings");
}
