//! What a handler starts from, as axum extractors: the request's parameters
//! or the admin credentials, with Auth0's own refusal as the rejection, so a
//! handler's body begins with what it needs and answers exactly as before.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::http_util::{db_error, oauth_params, Params};
use super::Emulator;

/// A handler's answer when it refuses part-way with `?`: both sides are
/// complete Auth0-shaped responses.
pub(crate) type Answer = Result<Response, Response>;

/// A caller of the `/emulator/*` helpers holding a configured client's
/// credentials (HTTP Basic); else `401 access_denied`.
pub(crate) struct AdminClient;

impl FromRequestParts<Arc<Emulator>> for AdminClient {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, emu: &Arc<Emulator>) -> Result<Self, Response> {
        super::admin::require_client(emu, &parts.headers).map(|()| AdminClient)
    }
}

/// The headers and the body (an unreadable or oversized body: axum's own answer).
async fn headers_and_body(
    req: Request,
    emu: &Arc<Emulator>,
) -> Result<(HeaderMap, Bytes), Response> {
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, emu)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((headers, body))
}

/// A `/dbconnections/*` body, or Auth0's `invalid_body` error.
pub(crate) struct DbParams(pub Params);

impl FromRequest<Arc<Emulator>> for DbParams {
    type Rejection = Response;

    async fn from_request(req: Request, emu: &Arc<Emulator>) -> Result<Self, Response> {
        let (headers, body) = headers_and_body(req, emu).await?;
        Params::parse(&headers, &body)
            .map(DbParams)
            .map_err(|m| db_error("invalid_body", m))
    }
}

/// An `/oauth/*` or `/mfa/*` request: its headers (client credentials,
/// bearer token) and parameters, or Auth0's `invalid_request` error.
pub(crate) struct OAuthRequest {
    pub headers: HeaderMap,
    pub params: Params,
}

impl FromRequest<Arc<Emulator>> for OAuthRequest {
    type Rejection = Response;

    async fn from_request(req: Request, emu: &Arc<Emulator>) -> Result<Self, Response> {
        let (headers, body) = headers_and_body(req, emu).await?;
        let params = oauth_params(&headers, &body)?;
        Ok(Self { headers, params })
    }
}
