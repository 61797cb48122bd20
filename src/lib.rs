//! authgate: a GraphQL gateway that owns authentication.

pub mod auth;
pub mod auth0;
pub mod config;
pub mod store;
