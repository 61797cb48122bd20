//! The schema: SDL files → executable schema, with built-in resolvers bound
//! by name, authorization directives, limits and the error contract.

pub mod authz;
mod builtin;
pub mod cache;
mod compose;
pub mod limits;
pub mod scan;
pub mod schema;
mod settings;
mod value;

use std::net::IpAddr;
use std::time::Instant;

pub use builtin::{builtin_bindings, rfc3339, viewer_fields, viewer_value};
pub use compose::compose;
pub use schema::{
    build, read_sources, Bindings, BuiltSchema, DirectiveResolverFactory, FieldSite, Resolver,
    SchemaError, SdlSource,
};
pub use settings::{GraphqlSettings, LimitSettings, MAX_NESTING_CEILING};
pub use value::{object, strings};

use crate::auth::Principal;
use crate::secret::Secret;

/// What every resolver can read about the request it serves.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    pub meta: RequestMeta,
}

/// Facts about the HTTP request, for resolvers (never the body).
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: String,
    /// The end user's address: the socket peer, or from `X-Forwarded-For`
    /// through a trusted proxy.
    pub client_ip: IpAddr,
    /// The bearer token as presented, even when it was refused (logout
    /// revokes it if it is valid).
    pub bearer: Option<Secret>,
    /// Cookies of the request, by name (values are secrets: refresh tokens).
    pub cookies: Vec<(String, Secret)>,
    /// When the request must be answered by.
    pub deadline: Instant,
}

impl RequestMeta {
    pub fn cookie(&self, name: &str) -> Option<&Secret> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}
