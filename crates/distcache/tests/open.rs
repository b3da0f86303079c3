//! The facade opens what each backend takes, refuses the rest without
//! quoting it, and redacts.

use distcache::{DistributedCacheExt, EntryOptions, ErrorKind, OpenOptions};

#[tokio::test]
async fn memory_round_trip_through_the_facade() {
    for url in ["memory://", "memory:", " MEMORY://?capacity=1MiB \n"] {
        let cache = distcache::open(url).unwrap();
        cache.ping().await.unwrap();
        cache
            .set_string("k", "v", &EntryOptions::new())
            .await
            .unwrap();
        assert_eq!(cache.get_string("k").await.unwrap().as_deref(), Some("v"));
    }
}

#[tokio::test]
async fn open_with_passes_the_clock() {
    use distcache::{DistributedCache, ManualClock};
    use std::sync::Arc;
    use std::time::Duration;
    let clock = ManualClock::starting_now();
    let options = OpenOptions::new().clock(Arc::new(clock.clone()));
    let cache = distcache::open_with("memory://", &options).unwrap();
    let in_10s = EntryOptions::new().expires_in(Duration::from_secs(10));
    cache.set("k", "v".into(), &in_10s).await.unwrap();
    clock.advance(Duration::from_secs(9));
    assert!(cache.get("k").await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert_eq!(cache.get("k").await.unwrap(), None);
}

#[test]
fn unknown_scheme_names_the_scheme_only() {
    let err = distcache::open("nosuch://user:hunter2@host/path?token=abc").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = format!("{err:#}");
    assert!(text.contains("`nosuch`"), "{text}");
    for secret in ["hunter2", "user", "host", "token", "abc"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn host_and_port_without_a_scheme_gets_a_hint() {
    let err = distcache::open("localhost:6379").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("without a URL scheme"), "{err}");
}

#[test]
fn unreadable_text_is_not_quoted() {
    for text in [
        "",
        "   ",
        ":hunter2@host:6379",
        "Password=hunter2",
        "Server=h;Pwd=hunter2",
        "averyveryveryveryverylongschemeword:hunter2@h",
    ] {
        let err = distcache::open(text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{text}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!distcache::redact(text).contains("hunter2"), "{text}");
    }
}

#[test]
fn a_backend_refusal_is_config() {
    let err = distcache::open("memory://?capacity=0").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[test]
fn redact_hides_passwords_everywhere() {
    let cases = [
        ("memory://", "memory://"),
        ("nosuch://me:hunter2@h", "nosuch:***"),
        ("app:hunter2@host:6379", "app:***"),
        ("gibberish hunter2", "gibberish hunter2"),
        ("x=hunter2", "***"),
        ("@hunter2", "***"),
    ];
    for (text, want) in cases {
        assert_eq!(distcache::redact(text), want, "{text}");
    }
}
