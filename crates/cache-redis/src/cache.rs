//! [`RedisCache`] and its operations.

use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::support::dotnet::{self, Ticks};
use cache_abstractions::{
    Capabilities, Clock, DistributedCache, EntryInfo, EntryOptions, Error, ErrorKind, KeyLimit,
    Result,
};
use redis::aio::ConnectionLike as _;
use redis::{RedisError, RedisResult, RedisWrite, Script, ServerErrorKind, ToRedisArgs, Value};

use crate::config::{Config, REDIS_MAX_BULK};
use crate::conn::{Conn, Connector};
use crate::error;
use crate::format::{self, StoredExpiry, ABSEXP, DATA, SLDEXP};
use crate::scripts;
use crate::telemetry;
use crate::url::Target;

/// A [`DistributedCache`] over Redis or Redis Cluster, sharing entries with
/// ASP.NET Core's `RedisCache` (see the [crate docs](crate)).
///
/// Cheap to clone: clones share the connections. Building one does no I/O;
/// the first operation (or [`ping`](DistributedCache::ping)) connects, on
/// the tokio runtime that runs it, which must then keep running while the
/// cache is used.
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    conn: Connector,
    target: Target,
    instance_name: String,
    capabilities: Capabilities,
    pool_size: u32,
    connect_timeout: Duration,
    command_timeout: Duration,
    clock: Arc<dyn Clock>,
    /// Cleared for good when the server refuses scripting.
    scripting: AtomicBool,
    slide: Script,
    /// Consecutive gets that found no sliding entry (saturating at
    /// `PLAIN_AFTER`); see the read strategy on `RedisCache::get`.
    plain_streak: AtomicU32,
}

/// After this many gets in a row found no sliding entry, gets read with a
/// plain `HMGET` (a tenth of a script's server time) until one finds a
/// sliding entry again.
const PLAIN_AFTER: u32 = 16;

/// How many times the scriptless slide re-applies a TTL after finding that
/// the entry changed under it (see `RedisCache::guarded_expire`).
const GUARD_ROUNDS: usize = 4;

impl Inner {
    pub(crate) fn new(config: Config, conn: Connector) -> Inner {
        let capabilities = Capabilities::new()
            .with_max_key_length(KeyLimit::Utf8Bytes(
                config.max_key_bytes - config.instance_name.len(),
            ))
            .with_max_value_size(Some(REDIS_MAX_BULK))
            .with_expiry_granularity(Duration::from_millis(1))
            .with_default_options(EntryOptions::new())
            .with_shared(true);
        Inner {
            conn,
            target: config.target,
            instance_name: config.instance_name,
            capabilities,
            pool_size: config.pool_size,
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
            clock: config.clock,
            scripting: AtomicBool::new(config.scripting),
            slide: scripts::slide(),
            plain_streak: AtomicU32::new(0),
        }
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("RedisCache")
            .field("target", &i.target)
            .field("instance_name", &i.instance_name)
            .field("pool_size", &i.pool_size)
            .field("connect_timeout", &i.connect_timeout)
            .field("command_timeout", &i.command_timeout)
            .field("scripting", &i.scripting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A Redis key as one command argument: the instance name's bytes, then
/// the key's, written straight into the command (no buffer of its own).
#[derive(Clone, Copy)]
struct RedisKey<'a> {
    prefix: &'a [u8],
    key: &'a str,
}

impl ToRedisArgs for RedisKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // The writer appends to the command's buffer in memory: it cannot fail.
        let _ = arg.write_all(self.prefix);
        let _ = arg.write_all(self.key.as_bytes());
    }
}

/// An entry's fields as read: `absexp`, `sldexp`, and the value (get) or
/// whether the `data` field exists (refresh, inspect).
pub(crate) struct Raw {
    pub(crate) absexp: Option<Vec<u8>>,
    pub(crate) sldexp: Option<Vec<u8>>,
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) has_data: bool,
}

impl Raw {
    pub(crate) fn from_values(values: Vec<Value>) -> Result<Raw> {
        let mut it = values.into_iter();
        let absexp = bulk(it.next())?;
        let sldexp = bulk(it.next())?;
        let (data, has_data) = match it.next() {
            Some(Value::Int(n)) => (None, n != 0),
            other => {
                let data = bulk(other)?;
                let has = data.is_some();
                (data, has)
            }
        };
        Ok(Raw {
            absexp,
            sldexp,
            data,
            has_data,
        })
    }

    /// The reply to `HMGET key absexp sldexp data`, taken apart by value
    /// (the value's buffer is moved out, not copied). Server errors were
    /// turned into the driver's errors already (see `get_plain`).
    pub(crate) fn from_hmget(reply: Value) -> Result<Raw> {
        let items = match reply {
            Value::Array(items) => items,
            other => {
                return Err(Error::corrupt(format!(
                    "unexpected reply type from redis: {}",
                    reply_kind(&other)
                )))
            }
        };
        let [absexp, sldexp, data]: [Value; 3] = items
            .try_into()
            .map_err(|_| Error::new(ErrorKind::Backend, "unexpected reply count from redis"))?;
        let data = bulk(Some(data))?;
        Ok(Raw {
            absexp: bulk(Some(absexp))?,
            sldexp: bulk(Some(sldexp))?,
            has_data: data.is_some(),
            data,
        })
    }

    /// `None`: no such key, or a hash without any of the three fields.
    /// `Some`: a live, well-formed entry. Malformed fields: `CorruptEntry`.
    /// An entry whose absolute expiration has passed is a miss, whatever
    /// Redis's own TTL says.
    pub(crate) fn validate(&self, now: Ticks) -> Result<Option<StoredExpiry>> {
        if self.absexp.is_none() && self.sldexp.is_none() && !self.has_data {
            return Ok(None);
        }
        let expiry = StoredExpiry::parse(self.absexp.as_deref(), self.sldexp.as_deref())?;
        if !self.has_data {
            return Err(Error::corrupt("the hash has no data field"));
        }
        if expiry.is_expired(now) {
            return Ok(None);
        }
        Ok(Some(expiry))
    }
}

fn bulk(v: Option<Value>) -> Result<Option<Vec<u8>>> {
    match v {
        Some(Value::BulkString(b)) => Ok(Some(b)),
        Some(Value::SimpleString(s)) => Ok(Some(s.into_bytes())),
        Some(Value::Nil) | None => Ok(None),
        // Name the type only: the reply may hold cached data.
        Some(other) => Err(Error::corrupt(format!(
            "unexpected reply type from redis: {}",
            reply_kind(&other)
        ))),
    }
}

pub(crate) fn array(v: Value) -> Result<Vec<Value>> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(Error::corrupt(format!(
            "unexpected reply type from redis: {}",
            reply_kind(&other)
        ))),
    }
}

fn reply_kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "integer",
        Value::BulkString(_) => "bulk string",
        Value::Array(_) => "array",
        Value::SimpleString(_) => "simple string",
        Value::Okay => "OK",
        Value::Map(_) => "map",
        Value::Set(_) => "set",
        Value::Double(_) => "double",
        Value::Boolean(_) => "boolean",
        _ => "other",
    }
}

impl RedisCache {
    /// A cache with default settings that has connected and answered a
    /// `PING`; see the [crate docs](crate#urls) for the URL forms. (The
    /// builder's [`build`](crate::RedisCacheBuilder::build) connects
    /// lazily instead.)
    ///
    /// ```no_run
    /// # async fn demo() -> cache_abstractions::Result<()> {
    /// let cache = cache_redis::RedisCache::connect("redis://127.0.0.1:6379/").await?;
    /// # let _ = cache;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<RedisCache> {
        let cache = RedisCache::builder().url(url).build()?;
        cache.ping().await?;
        Ok(cache)
    }

    /// The cache for validated settings (no I/O).
    pub(crate) fn new(config: Config) -> Result<RedisCache> {
        let conn = Connector::new(&config)?;
        Ok(RedisCache {
            inner: Arc::new(Inner::new(config, conn)),
        })
    }

    /// The instance name (key prefix) this cache uses.
    pub fn instance_name(&self) -> &str {
        &self.inner.instance_name
    }

    /// The Lua source of the script behind `get` and `refresh`, for the
    /// benchmarks that send the same `EVALSHA` themselves. Not part of the
    /// API: only with the doc-hidden feature `internals`.
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn sliding_read_script() -> &'static str {
        scripts::slide_source()
    }

    /// Whether sliding reads still use the server script (false once the
    /// server refused scripting, or when disabled in the builder).
    pub fn uses_scripting(&self) -> bool {
        self.inner.scripting.load(Ordering::Relaxed)
    }

    /// Now, from the configured clock, in .NET ticks.
    fn now(&self) -> Ticks {
        Ticks::from_instant(self.inner.clock.now())
    }

    /// The Redis key: instance-name bytes, then key bytes (as .NET).
    fn redis_key<'a>(&'a self, key: &'a str) -> Result<RedisKey<'a>> {
        self.inner.capabilities.validate_key(key)?;
        Ok(RedisKey {
            prefix: self.inner.instance_name.as_bytes(),
            key,
        })
    }

    /// Runs `f` on a connection within the command timeout. A pooled
    /// connection that broke (say the server restarted since it was made)
    /// is replaced and the operation tried once more: every operation here
    /// is idempotent.
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut retried = false;
        loop {
            let (conn, lease) = self.inner.conn.acquire(op).await?;
            let result = match conn {
                // The connection's own response timeout bounds the reply.
                Conn::Single(_) => f(conn).await,
                // The cluster connection may retry on other nodes: bound
                // the whole operation.
                Conn::Cluster(_) => {
                    let timeout = self.inner.conn.command_timeout();
                    match tokio::time::timeout(timeout, f(conn)).await {
                        Ok(result) => result,
                        Err(_) => return Err(error::timed_out(op, timeout)),
                    }
                }
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if let Some(lease) = lease.filter(|_| error::breaks_connection(&e)) {
                        self.inner.conn.mark_broken(lease);
                        if !retried {
                            retried = true;
                            continue;
                        }
                    }
                    return Err(error::from_redis(op, e));
                }
            }
        }
    }

    /// Reads the fields and, for a live sliding entry, moves its TTL: one
    /// round trip through the script, or two without scripting.
    async fn read_and_slide(
        &self,
        op: &'static str,
        key: RedisKey<'_>,
        with_data: bool,
    ) -> Result<Option<(StoredExpiry, Option<Vec<u8>>)>> {
        let now = self.now();
        if self.uses_scripting() {
            match self.slide_by_script(op, key, now, with_data).await {
                Err(ScriptError::Disabled) => {
                    // Permanent for this server: skip the failing attempt
                    // from now on. Said once: the reads that raced here
                    // find it already cleared.
                    if self.inner.scripting.swap(false, Ordering::Relaxed) {
                        telemetry::scripting_unavailable();
                    }
                }
                Err(ScriptError::Other(e)) => return Err(e),
                Ok(raw) => {
                    return Ok(raw.validate(now)?.map(|e| (e, raw.data)));
                }
            }
        }
        self.slide_by_commands(op, key, now, with_data).await
    }

    async fn slide_by_script(
        &self,
        op: &'static str,
        key: RedisKey<'_>,
        now: Ticks,
        with_data: bool,
    ) -> std::result::Result<Raw, ScriptError> {
        let now = now.to_string();
        let flag = if with_data { "1" } else { "0" };
        let sha = self.inner.slide.get_hash();
        let reply = self
            .run(op, |mut c| {
                let now = &now;
                async move {
                    let mut evalsha = redis::cmd("EVALSHA");
                    evalsha.arg(sha).arg(1).arg(key).arg(now).arg(flag);
                    match evalsha.query_async::<Value>(&mut c).await {
                        Err(e)
                            if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript) =>
                        {
                            // Not cached on this server (new, restarted, or
                            // SCRIPT FLUSH): EVAL runs it and caches it, so
                            // the next EVALSHA succeeds.
                            let mut eval = redis::cmd("EVAL");
                            eval.arg(scripts::slide_source())
                                .arg(1)
                                .arg(key)
                                .arg(now)
                                .arg(flag);
                            let reply = eval.query_async::<Value>(&mut c).await;
                            if reply.is_ok() {
                                telemetry::script_reloaded();
                            }
                            reply
                        }
                        other => other,
                    }
                }
            })
            .await;
        match reply {
            Ok(v) => array(v)
                .and_then(Raw::from_values)
                .map_err(ScriptError::Other),
            Err(e) if is_scripting_refusal(&e) => Err(ScriptError::Disabled),
            Err(e) => Err(ScriptError::Other(e)),
        }
    }

    /// Without scripting: read, then move the TTL in a second round trip
    /// (as .NET does), guarded so that a `set` landing in between never
    /// keeps this entry's TTL (see [`guarded_expire`](Self::guarded_expire)).
    async fn slide_by_commands(
        &self,
        op: &'static str,
        key: RedisKey<'_>,
        now: Ticks,
        with_data: bool,
    ) -> Result<Option<(StoredExpiry, Option<Vec<u8>>)>> {
        let mut pipe = redis::pipe();
        if with_data {
            pipe.cmd("HMGET").arg(key).arg(ABSEXP).arg(SLDEXP).arg(DATA);
        } else {
            pipe.cmd("HMGET").arg(key).arg(ABSEXP).arg(SLDEXP);
            pipe.cmd("HEXISTS").arg(key).arg(DATA);
        }
        let replies: Vec<Value> = self
            .run(op, |mut c| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut c).await }
            })
            .await?;
        let mut values = Vec::with_capacity(3);
        let mut replies = replies.into_iter();
        if let Some(first) = replies.next() {
            values.extend(array(first)?);
        }
        values.extend(replies);
        let raw = Raw::from_values(values)?;
        let Some(expiry) = raw.validate(now)? else {
            return Ok(None);
        };
        if expiry.sldexp.is_some() {
            let read = (raw.absexp.clone(), raw.sldexp.clone());
            self.guarded_expire(op, key, read, expiry, now).await?;
        }
        Ok(Some((expiry, raw.data)))
    }

    /// Slides the entry that was read, and only it, without a script.
    ///
    /// Redis has no conditional `PEXPIRE`, so the TTL is set and the
    /// expiry fields re-read in one `MULTI`/`EXEC`: the fields it returns
    /// are those of the entry the TTL was applied to. If they are the ones
    /// the TTL was computed from, done. If a `set` replaced the entry in
    /// between, its own TTL is recomputed from its own fields (the
    /// absolute deadline it was written with, its window, or no TTL at all:
    /// `PERSIST`) and applied the same way, until the fields match or a few
    /// rounds pass. So an overwrite keeps its own expiry (contract rules 3
    /// and 10) in this mode too; see docs/backends/redis.md.
    async fn guarded_expire(
        &self,
        op: &'static str,
        key: RedisKey<'_>,
        mut read: (Option<Vec<u8>>, Option<Vec<u8>>),
        mut expiry: StoredExpiry,
        now: Ticks,
    ) -> Result<()> {
        for _ in 0..GUARD_ROUNDS {
            let mut pipe = redis::pipe();
            pipe.atomic();
            match expiry.ttl_millis(now) {
                // Never 0: PEXPIRE 0 deletes (the entry is dead anyway).
                Some(ms) => pipe.cmd("PEXPIRE").arg(key).arg(ms.max(1)).ignore(),
                None => pipe.cmd("PERSIST").arg(key).ignore(),
            };
            pipe.cmd("HMGET").arg(key).arg(ABSEXP).arg(SLDEXP);
            let (fields,): (Vec<Value>,) = self
                .run(op, |mut c| {
                    let pipe = &pipe;
                    async move { pipe.query_async(&mut c).await }
                })
                .await?;
            let mut fields = fields.into_iter();
            let now_fields = (bulk(fields.next())?, bulk(fields.next())?);
            if now_fields == read {
                return Ok(());
            }
            match StoredExpiry::parse(now_fields.0.as_deref(), now_fields.1.as_deref()) {
                Ok(next) => {
                    expiry = next;
                    read = now_fields;
                }
                // Removed, or replaced by something that is not an entry:
                // nothing of ours to correct.
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }
}

impl RedisCache {
    /// A get by plain `HMGET` (see [`RedisCache::get`]'s read strategy).
    ///
    /// The hot path, kept lean (see benches/analysis.md, Redis section):
    /// the command is built in buffers sized up front, the reply goes
    /// straight from the driver's `Value` into the fields (no generic
    /// conversion pass), the value's bytes are moved, never copied, and
    /// the clock is read only for an entry with an absolute expiration.
    async fn get_plain(&self, key: RedisKey<'_>) -> Result<Option<Bytes>> {
        let hmget = hmget_fields(key);
        let reply = self
            .run("get", |mut c| {
                let hmget = &hmget;
                async move {
                    // A server error (e.g. WRONGTYPE) becomes the driver's
                    // error here, inside `run`, as `query_async` makes it;
                    // `HMGET`'s items are never errors, so unlike
                    // `query_async` this does not walk the array.
                    match c.req_packed_command(hmget).await? {
                        e @ Value::ServerError(_) => e.extract_error(),
                        reply => Ok(reply),
                    }
                }
            })
            .await?;
        let raw = Raw::from_hmget(reply)?;
        // Only an absolute deadline needs the time; read it after the
        // reply, which never reports an entry that has expired by then.
        let now = if raw.absexp.as_deref().is_none_or(|a| a == b"-1") {
            Ticks::new(0)
        } else {
            self.now()
        };
        let Some(expiry) = raw.validate(now)? else {
            return Ok(None);
        };
        let Some(data) = raw.data else {
            return Err(Error::corrupt("the hash has no data field"));
        };
        if expiry.sldexp.is_some() {
            self.inner.plain_streak.store(0, Ordering::Relaxed);
            // The script re-reads the fields, so a concurrent overwrite is
            // never given this entry's TTL.
            // Boxed: the sliding path's state would otherwise make every
            // get's future (moved into `async_trait`'s box) several times
            // larger.
            Box::pin(self.read_and_slide("get", key, false)).await?;
        }
        Ok(Some(Bytes::from(data)))
    }
}

/// `HMGET key absexp sldexp data`, in buffers allocated once at their final
/// size (the argument list and its bytes).
fn hmget_fields(key: RedisKey<'_>) -> redis::Cmd {
    let bytes = "HMGET".len() + key.prefix.len() + key.key.len() + ABSEXP.len() + SLDEXP.len();
    let mut cmd = redis::Cmd::with_capacity(5, bytes + DATA.len());
    cmd.arg("HMGET").arg(key).arg(ABSEXP).arg(SLDEXP).arg(DATA);
    cmd
}

/// How a script attempt failed.
enum ScriptError {
    /// The server refuses scripting: use the commands instead.
    Disabled,
    /// Any other failure, already mapped.
    Other(Error),
}

fn is_scripting_refusal(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<RedisError>())
        .is_some_and(error::is_scripting_disabled)
}

#[async_trait]
impl DistributedCache for RedisCache {
    /// Reads the entry and, if it slides, moves its TTL in the same round
    /// trip (the server script).
    ///
    /// Read strategy: a script costs the server about ten times a plain
    /// `HMGET`, and only sliding entries need it. So after
    /// 16 gets in a row found no sliding entry, gets read with
    /// `HMGET` alone; one that then finds a sliding entry slides it with
    /// the script in a second round trip (atomically, unlike .NET's raw
    /// `PEXPIRE`) and switches gets back to the script. A workload of
    /// sliding entries thus costs one round trip per get, and one without
    /// them costs an `HMGET`.
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = self.redis_key(key)?;
        let streak = &self.inner.plain_streak;
        if self.uses_scripting() && streak.load(Ordering::Relaxed) >= PLAIN_AFTER {
            return self.get_plain(key).await;
        }
        // Boxed for the same reason as in `get_plain`: the plain path is
        // the hot one, and its future stays small.
        let found = Box::pin(self.read_and_slide("get", key, true)).await?;
        match &found {
            Some((expiry, _)) if expiry.sldexp.is_some() => streak.store(0, Ordering::Relaxed),
            _ if streak.load(Ordering::Relaxed) < PLAIN_AFTER => {
                streak.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        match found {
            Some((_, Some(data))) => Ok(Some(Bytes::from(data))),
            Some((_, None)) => Err(Error::corrupt("the hash has no data field")),
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let key = self.redis_key(key)?;
        self.inner.capabilities.validate_value(value.len())?;
        let now = self.inner.clock.now();
        let expiry = options.resolve(now)?;
        let (absexp, sldexp) = format::encode_expiry(&expiry);
        let ttl = format::ttl_millis(
            Ticks::from_instant(now),
            expiry.absolute.map(Ticks::from_instant),
            expiry.sliding.map(Ticks::from_duration),
        );
        // One atomic round trip: DEL drops any old fields and TTL, so the
        // new hash has exactly .NET's three fields and only the new expiry
        // (no TTL at all when there is none, which is what PERSIST gives).
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("DEL").arg(key).ignore();
        pipe.cmd("HSET")
            .arg(key)
            .arg(ABSEXP)
            .arg(&absexp)
            .arg(SLDEXP)
            .arg(&sldexp)
            .arg(DATA)
            .arg(&value[..])
            .ignore();
        if let Some(ms) = ttl {
            // Resolved options lie in the future; never send 0 (it deletes).
            pipe.cmd("PEXPIRE").arg(key).arg(ms.max(1)).ignore();
        }
        self.run("set", |mut c| {
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut c).await }
        })
        .await
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        let key = self.redis_key(key)?;
        self.read_and_slide("refresh", key, false).await.map(drop)
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let key = self.redis_key(key)?;
        let mut del = redis::cmd("DEL");
        del.arg(key);
        self.run("remove", |mut c| {
            let del = &del;
            async move { del.query_async::<()>(&mut c).await }
        })
        .await
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        let key = self.redis_key(key)?;
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(key).arg(ABSEXP).arg(SLDEXP);
        pipe.cmd("HEXISTS").arg(key).arg(DATA);
        pipe.cmd("HSTRLEN").arg(key).arg(DATA);
        pipe.cmd("PTTL").arg(key);
        let now = self.inner.clock.now();
        let replies: Vec<Value> = self
            .run("inspect", |mut c| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut c).await }
            })
            .await?;
        let [fields, exists, size, pttl]: [Value; 4] = replies
            .try_into()
            .map_err(|_| Error::new(ErrorKind::Backend, "unexpected reply count from redis"))?;
        let mut values = array(fields)?;
        values.push(exists);
        let raw = Raw::from_values(values)?;
        let Some(expiry) = raw.validate(Ticks::from_instant(now))? else {
            return Ok(None);
        };
        let size = match size {
            Value::Int(n) => usize::try_from(n).unwrap_or(0),
            _ => 0,
        };
        let expires_at = match pttl {
            // A TTL may reach past year 9999 (a window of
            // `TimeSpan.MaxValue`): the instant stops there.
            Value::Int(ms) if ms >= 0 => Some(dotnet::instant_after(
                now,
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            )),
            // -2: the key vanished between the reads.
            Value::Int(-2) => return Ok(None),
            _ => None,
        };
        Ok(Some(EntryInfo::new(
            size,
            expiry.absolute(),
            expiry.sliding(),
            expires_at,
        )))
    }

    /// Connects if need be and sends `PING` (one round trip).
    async fn ping(&self) -> Result<()> {
        let ping = redis::cmd("PING");
        self.run("ping", |mut c| {
            let ping = &ping;
            async move { ping.query_async::<()>(&mut c).await }
        })
        .await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities.clone()
    }
}
