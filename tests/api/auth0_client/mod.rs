//! Tests of `authgate::auth0` against wiremock doubles answering as auth0-wire.md documents.

mod auth_api;
mod errors;
mod helpers;
mod management;
mod mfa;
mod redaction;
mod settings;
