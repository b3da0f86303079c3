//! The server-side script that makes a sliding read one round trip.
//!
//! .NET reads with `HMGET` and then, in a second awaited command, moves the
//! TTL with `EXPIRE`. This script does both on the server in one atomic step.
//! It only ever moves the TTL of a well-formed sliding entry; the client
//! re-validates every field with exact integer arithmetic (Lua numbers are
//! doubles), so a malformed hash is reported as corrupt whatever the script
//! did.

use redis::Script;

/// `KEYS[1]`: the Redis key. `ARGV[1]`: now, in .NET ticks (decimal).
/// `ARGV[2]`: `"1"` to read the value (get), `"0"` for a refresh.
///
/// Returns `{absexp, sldexp, data}` for a get and `{absexp, sldexp, 1|0}`
/// (whether the `data` field exists) for a refresh; missing fields are nil.
/// A key that is not a hash fails with WRONGTYPE.
const SLIDE: &str = r#"
local key = KEYS[1]
local f
if ARGV[2] == '1' then
  f = redis.call('HMGET', key, 'absexp', 'sldexp', 'data')
else
  f = redis.call('HMGET', key, 'absexp', 'sldexp')
  f[3] = redis.call('HEXISTS', key, 'data')
end
local abs, sld = f[1], f[2]
-- Ticks as two exact halves: Lua numbers are doubles, ticks need 62 bits.
local function split(s)
  local n = #s
  if n <= 7 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 7)), tonumber(string.sub(s, n - 6))
end
-- Exactly the client's test (format.rs, parse_ticks): a positive decimal
-- without sign or leading zeros, at most max (same-length digit strings
-- compare as numbers).
local function ticks(s, max)
  if not s or string.match(s, '^[1-9]%d*$') == nil then return false end
  return #s < #max or (#s == #max and s <= max)
end
local MAX_SLD = '9223372036854775807'
local MAX_ABS = '3155378975999999999'
if ticks(sld, MAX_SLD) and f[3] and f[3] ~= 0 and (abs == '-1' or ticks(abs, MAX_ABS)) then
  local ttl = tonumber(sld)
  if abs ~= '-1' then
    local ah, al = split(abs)
    local nh, nl = split(ARGV[1])
    local left = (ah - nh) * 10000000 + (al - nl)
    if left < ttl then ttl = left end
  end
  if ttl > 0 then
    redis.call('PEXPIRE', key, string.format('%.0f', math.ceil(ttl / 10000)))
  end
end
return f
"#;

/// The sliding-read script (its SHA1 is computed once).
pub(crate) fn slide() -> Script {
    Script::new(SLIDE)
}

/// The script's source, for `EVAL` when the server answers NOSCRIPT.
pub(crate) fn slide_source() -> &'static str {
    SLIDE
}

#[cfg(test)]
mod tests {
    use crate::format::{MAX_ABSEXP, MAX_SLDEXP};

    #[test]
    fn the_script_bounds_are_the_decoders() {
        assert!(super::SLIDE.contains(&format!("MAX_SLD = '{MAX_SLDEXP}'")));
        assert!(super::SLIDE.contains(&format!("MAX_ABS = '{MAX_ABSEXP}'")));
    }
}
