//! The request guard: who is calling, and what may they do.

mod principal;

pub use principal::{Principal, Rejection, User};
