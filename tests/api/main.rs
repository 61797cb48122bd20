//! The integration-test binary: one module per capability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod emulator;
