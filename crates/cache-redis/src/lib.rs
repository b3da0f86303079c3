//! cache-redis (work in progress).
