//! The whole conformance kit against a 3-master Redis Cluster.

mod common;

cache_testkit::conformance_suite!(common::cluster);
