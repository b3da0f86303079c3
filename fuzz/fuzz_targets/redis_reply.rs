//! A server's reply to a read, as RESP bytes: either built from fuzzed
//! items (so most inputs are well-formed replies of odd shapes) or raw
//! (cache_redis::fuzzing::check::reply).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Item {
    Bulk(Vec<u8>),
    Number(i64),
    Nil,
    Simple(String),
    Error(String),
    Array(Vec<Item>),
    Double(f64),
    Boolean(bool),
    Map(Vec<(Item, Item)>),
}

impl Item {
    fn write(&self, out: &mut Vec<u8>, depth: usize) {
        let line = |s: &str| s.replace(['\r', '\n'], " ");
        match self {
            Item::Bulk(b) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Item::Number(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Item::Nil => out.extend_from_slice(b"$-1\r\n"),
            Item::Simple(s) => out.extend_from_slice(format!("+{}\r\n", line(s)).as_bytes()),
            Item::Error(s) => out.extend_from_slice(format!("-{}\r\n", line(s)).as_bytes()),
            Item::Double(d) => out.extend_from_slice(format!(",{d}\r\n").as_bytes()),
            Item::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Item::Array(items) if depth < 4 => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.write(out, depth + 1);
                }
            }
            Item::Map(pairs) if depth < 4 => {
                out.extend_from_slice(format!("%{}\r\n", pairs.len()).as_bytes());
                for (k, v) in pairs {
                    k.write(out, depth + 1);
                    v.write(out, depth + 1);
                }
            }
            Item::Array(_) | Item::Map(_) => out.extend_from_slice(b"*0\r\n"),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// An array of fields, as HMGET or the script answer.
    Fields(Vec<Item>, common::Now),
    /// Any one reply.
    One(Item, common::Now),
    /// Raw bytes.
    Raw(Vec<u8>, common::Now),
}

fuzz_target!(|input: Input| {
    let (bytes, now) = match input {
        Input::Fields(items, now) => {
            let mut out = Vec::new();
            Item::Array(items).write(&mut out, 0);
            (out, now)
        }
        Input::One(item, now) => {
            let mut out = Vec::new();
            item.write(&mut out, 0);
            (out, now)
        }
        Input::Raw(bytes, now) => (bytes, now),
    };
    cache_redis::fuzzing::check::reply(&bytes, now.get());
});
