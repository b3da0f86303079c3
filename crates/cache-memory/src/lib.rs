//! cache-memory (work in progress).
