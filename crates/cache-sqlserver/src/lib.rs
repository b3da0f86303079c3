//! cache-sqlserver (work in progress).
