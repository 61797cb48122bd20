//! The request guard: who is calling, and what may they do.
//!
//! [`Authenticator`] turns a bearer token into a [`Principal`]: a
//! verified-token cache in front of the JWKS store ([`KeyStatus`]), RS256
//! verification with every check explicit, and a revocation check on every call.
//! [`Authenticate`] is the guard as its callers (`http`, `session`) see it.

mod authenticator;
mod guard;
mod jwks;
mod principal;
mod settings;
mod verify;

pub use authenticator::{Authenticator, GuardStats};
pub use guard::{Authenticate, KeysReadiness};
pub use jwks::{JwksError, KeySource, KeyStatus};
pub use principal::{Principal, PrincipalKind, Rejection, User};
pub use settings::{GuardSettings, MAX_LEEWAY};
pub use verify::VerifyError;
