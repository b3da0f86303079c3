//! A Redis hash's `absexp`, `sldexp` and `data` fields as another writer may
//! have left them (cache_redis::fuzzing::check::hash_fields).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// A field's bytes: mostly numbers near the interesting limits, or junk.
#[derive(Arbitrary, Debug)]
enum Field {
    None,
    MinusOne,
    Int(i64),
    Wide(i128),
    Bytes(Vec<u8>),
}

impl Field {
    fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Field::None => None,
            Field::MinusOne => Some(b"-1".to_vec()),
            Field::Int(n) => Some(n.to_string().into_bytes()),
            Field::Wide(n) => Some(n.to_string().into_bytes()),
            Field::Bytes(b) => Some(b.clone()),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    absexp: Field,
    sldexp: Field,
    data: Option<Vec<u8>>,
    now: common::Now,
}

fuzz_target!(|input: Input| {
    let (a, s) = (input.absexp.bytes(), input.sldexp.bytes());
    cache_redis::fuzzing::check::hash_fields(
        a.as_deref(),
        s.as_deref(),
        input.data.as_deref(),
        input.now.get(),
    );
});
