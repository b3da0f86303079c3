//! The whole conformance kit against one standalone redis-server.

mod common;

cache_testkit::conformance_suite!(common::standalone);
