//! SQL Server rows of any shape and cell values
//! (cache_sqlserver::fuzzing::check::row).
#![no_main]

use cache_sqlserver::fuzzing::{check, Cell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Option<[Cell; 4]>, Vec<Cell>)| {
    // Four cells reach every per-column check; other counts the shape check.
    if let Some(cells) = &input.0 {
        check::row(cells);
    }
    check::row(&input.1);
});
