//! Opening this backend through the `distcache` facade (feature `postgres`).

use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind, OpenOptions};

use crate::common::{self, Schema};

#[tokio::test]
async fn the_facade_opens_urls_and_libpq_strings() {
    let schema = Schema::new("facade").await;
    let t = schema.create_table("c").await;
    let options = OpenOptions::new().schema(t.schema()).table(t.table());
    let by_url = distcache::open_with(&common::url(), &options).unwrap();
    by_url.ping().await.unwrap();
    by_url
        .set("k", "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    let libpq = "host=127.0.0.1 port=5432 user=postgres dbname=test";
    if common::url() == common::DEFAULT_URL {
        let by_string = distcache::open_with(libpq, &options).unwrap();
        assert_eq!(
            by_string.get("k").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
    // Opening does no I/O and needs the table.
    let e = distcache::open("postgresql://u:hunter2@nowhere.invalid/db").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.to_string().contains("hunter2"));
    assert_eq!(
        distcache::redact("postgres://u:hunter2@db/app"),
        "postgres://u:***@db/app"
    );
    assert_eq!(
        distcache::redact("host=db password=hunter2"),
        "host=db password=***"
    );
}
