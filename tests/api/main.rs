//! The one integration-test binary: a module per capability.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth0_client;
