//! authgate's integration tests: one binary, a module per capability.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth0_client;
mod cli;
mod contract;
mod datasources;
mod document_cache;
mod emulator;
mod fleet;
mod guard;
mod helpers;
mod hostile;
mod hostile_binary;
mod http_contract;
mod invites;
mod reload;
mod schema;
mod session;
mod telemetry;
mod tour;
