//! SQL Server URLs and ADO.NET connection strings open through the facade
//! with no server (opening is lazy); the first use fails as a connection
//! error; passwords never show.

use std::time::Duration;

use distcache::{DistributedCache, ErrorKind, OpenOptions};

fn options() -> OpenOptions {
    OpenOptions::new()
        .table("Cache")
        .timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn ado_net_strings_and_urls_open_lazily() {
    for text in [
        "Server=127.0.0.1,1;Database=app;User Id=sa;Password=hunter2;TrustServerCertificate=true",
        "Data Source=tcp:127.0.0.1,1;Initial Catalog=app;User ID=sa;Pwd='hun;ter2'",
        "sqlserver://sa:hunter2@127.0.0.1:1/app",
    ] {
        let shown = distcache::redact(text);
        assert!(
            !shown.contains("hunter2") && !shown.contains("hun;ter2"),
            "{shown}"
        );
        assert_eq!(distcache::backend_of(text), Some("sqlserver"), "{shown}");
        let cache =
            distcache::open_with(text, &options()).unwrap_or_else(|e| panic!("{shown}: {e:#}"));
        let err = cache.ping().await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
            "{shown}: {err:?}"
        );
        let all = format!("{err:?} {cache:?}");
        assert!(!all.contains("hunter2"), "{all}");
    }
}

#[test]
fn the_table_is_required_and_a_config_error() {
    let err = distcache::open("Server=db;Database=app;Password=hunter2").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!format!("{err:#}").contains("hunter2"));
}
