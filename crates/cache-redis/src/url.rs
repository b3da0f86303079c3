//! URL forms: parsing into a [`Target`], the schemes, and redaction.

use cache_abstractions::{Error, Result};

/// Every URL scheme [`RedisCacheBuilder::from_url`](crate::RedisCacheBuilder::from_url)
/// opens (lower case).
pub const URL_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "redis+cluster",
    "rediss+cluster",
];

/// The cluster URL schemes, plain and TLS.
const CLUSTER_SCHEMES: [(&str, &str); 2] =
    [("redis+cluster", "redis"), ("rediss+cluster", "rediss")];

/// The schemes redis-rs understands for one server.
const STANDALONE_SCHEMES: [&str; 4] = ["redis", "rediss", "redis+unix", "unix"];

/// A connection target parsed from a URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// One server: the URL as given (redis-rs parses it).
    Standalone(String),
    /// A cluster: one `redis://` or `rediss://` URL per seed node.
    Cluster(Vec<String>),
}

impl Target {
    /// Parses `url`. Errors never repeat the URL (it may hold a password).
    pub(crate) fn parse(url: &str) -> Result<Target> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(Error::config(
                "redis URL has no scheme; expected redis://, rediss://, redis+unix://, unix://, redis+cluster:// or rediss+cluster://",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if let Some((_, node_scheme)) = CLUSTER_SCHEMES.iter().find(|(s, _)| *s == scheme) {
            return parse_cluster(node_scheme, rest).map(Target::Cluster);
        }
        if STANDALONE_SCHEMES.contains(&scheme.as_str()) {
            return Ok(Target::Standalone(url.to_string()));
        }
        Err(Error::config(format!(
            "unsupported redis URL scheme {scheme:?}; expected redis://, rediss://, redis+unix://, unix://, redis+cluster:// or rediss+cluster://"
        )))
    }

    /// Every node URL as one target (from the builder's `cluster_nodes`).
    pub(crate) fn cluster_from_nodes(nodes: &[String]) -> Result<Target> {
        if nodes.is_empty() {
            return Err(Error::config("cluster_nodes needs at least one node URL"));
        }
        for node in nodes {
            match Target::parse(node)? {
                Target::Standalone(u)
                    if u.starts_with("redis://") || u.starts_with("rediss://") => {}
                _ => {
                    return Err(Error::config(
                        "each cluster node must be a redis:// or rediss:// URL",
                    ))
                }
            }
        }
        Ok(Target::Cluster(nodes.to_vec()))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Standalone(url) => f.debug_tuple("Standalone").field(&redact(url)).finish(),
            Target::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redact(n)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// `redis+cluster://[user[:password]@]host:port,host:port[/][#fragment]`
/// into `redis://[user[:password]@]host:port[#fragment]` per node.
fn parse_cluster(node_scheme: &str, rest: &str) -> Result<Vec<String>> {
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, format!("#{f}")),
        None => (rest, String::new()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !matches!(path, "" | "/" | "/0") {
        return Err(Error::config(
            "a cluster URL takes no path or query: Redis Cluster has only database 0",
        ));
    }
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("{node_scheme}://{userinfo}{h}{fragment}"))
        .collect();
    if nodes.is_empty() {
        return Err(Error::config("a cluster URL needs at least one host:port"));
    }
    Ok(nodes)
}

/// `url` with every secret hidden: a password (or a lone user-info part,
/// which may be one) becomes `***`, a query string (which may carry
/// `pass=`) becomes `?…`. Never fails; text without `://` is shown as
/// `<unparsable URL>`, since it may be a mistyped URL holding a password.
///
/// ```
/// assert_eq!(
///     cache_redis::redact("redis://app:hunter2@cache:6379/0"),
///     "redis://app:***@cache:6379/0"
/// );
/// assert_eq!(cache_redis::redact("app:hunter2@cache:6379"), "<unparsable URL>");
/// ```
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable URL>".to_string();
    };
    let mut out = format!("{scheme}://");
    // The user info runs to the *last* '@': a password may hold an
    // unescaped '/', '?', '#' or '@', which must not end it early.
    let tail = match rest.rfind('@') {
        Some(at) => {
            let (userinfo, after) = (&rest[..at], &rest[at + 1..]);
            match userinfo.split_once(':') {
                Some((user, _password)) if !user.contains(['/', '?', '#', ';']) => {
                    out.push_str(&format!("{user}:***@"));
                }
                // `redis://secret@host`, or a user part that may hold part of
                // a secret: show none of it.
                _ => out.push_str("***@"),
            }
            after
        }
        None => rest,
    };
    let end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    let (hosts, tail) = tail.split_at(end);
    out.push_str(hosts);
    // Query strings may carry `pass=` (unix sockets): drop their values.
    match tail.split_once('?') {
        Some((path, _query)) => {
            out.push_str(path);
            out.push_str("?…");
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    #[test]
    fn standalone_schemes_pass_through() {
        for url in [
            "redis://127.0.0.1:6380/2",
            "rediss://h:1/",
            "redis+unix:///tmp/r.sock?db=1",
            "unix:///tmp/r.sock",
        ] {
            assert_eq!(Target::parse(url).unwrap(), Target::Standalone(url.into()));
        }
    }

    #[test]
    fn cluster_urls_become_one_url_per_node() {
        let t = Target::parse("redis+cluster://u:p@h1:7000,h2:7001/").unwrap();
        assert_eq!(
            t,
            Target::Cluster(vec![
                "redis://u:p@h1:7000".into(),
                "redis://u:p@h2:7001".into()
            ])
        );
        let t = Target::parse("rediss+cluster://h1:7000#insecure").unwrap();
        assert_eq!(t, Target::Cluster(vec!["rediss://h1:7000#insecure".into()]));
        let err = Target::parse("redis+cluster://h1:1/3").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn errors_and_redaction_never_show_the_password() {
        let err = Target::parse("http://user:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(
            redact("redis://user:hunter2@h:1/0"),
            "redis://user:***@h:1/0"
        );
        assert_eq!(redact("redis://hunter2@h:1"), "redis://***@h:1");
        // A password with characters that would end the authority early.
        for url in [
            "redis://:pa/hunter2@h:1/0",
            "redis://u:pa?hunter2@h:1",
            "redis://u:pa#hunter2@h:1",
            "redis://u:pa@hunter2@h:1",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("hunter2"), "{url} -> {shown}");
            assert!(shown.contains("h:1"), "{url} -> {shown}");
        }
        assert_eq!(redact("redis+unix:///s?pass=hunter2"), "redis+unix:///s?…");
        let t = Target::parse("redis+cluster://u:hunter2@h1:1,h2:2").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
