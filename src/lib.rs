//! authgate: a GraphQL gateway that owns authentication.
//!
//! `main.rs` only parses the command line; everything is here, so tests and
//! tools build the same [`Application`].

pub mod auth;
pub mod auth0;
pub mod config;
pub mod crypto;
pub mod datasources;
pub mod email;
pub mod emulator;
pub mod error;
pub mod graphql;
pub mod http;
pub mod invite;
pub mod limits;
pub mod metrics;
pub mod outbound;
pub mod reload;
pub mod secret;
pub mod session;
pub mod startup;
pub mod store;
mod strict_json;
pub mod telemetry;
mod validate;

pub use startup::{Application, ApplicationBuilder, ShutdownHandle};
