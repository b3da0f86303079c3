//! Throwaway redis-server processes (filled in by the Redis backend work).
