//! authgate: a GraphQL gateway that owns authentication.

pub mod auth;
pub mod config;
pub mod emulator;
pub mod store;
