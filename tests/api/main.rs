//! The integration tests: one binary, a module per capability.
// Tests may unwrap: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod guard;
