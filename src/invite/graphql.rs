//! Binds `Mutation.inviteUser`, `Mutation.resendInvitation`,
//! `Mutation.cancelInvitation`, `Mutation.updateUserRoles` and
//! `Query.invitations` to an [`InviteService`].

use std::sync::Arc;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Name, Value};

use std::future::Future;

use super::{
    CheckedCancel, CheckedInvitation, CheckedResend, Invitation, InvitationPage, InviteError,
    InviteInput, InviteService, RoleChange, StatusFilter, UserRoles,
};
use crate::email::Email;
use crate::error::ApiError;
use crate::graphql::{object, strings, Bindings, RequestContext};
use crate::limits::Operation;

fn time(t: Option<std::time::SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(super::lifecycle::rfc3339(t)))
}

/// The GraphQL `Invitation` object.
pub fn invitation_value(i: &Invitation) -> Value {
    object([
        ("userId", Value::String(i.user_id.clone())),
        ("email", Value::String(i.email.clone())),
        ("roles", strings(&i.roles)),
        ("status", Value::Enum(Name::new(i.status.as_str()))),
        (
            "invitedBy",
            i.invited_by.as_ref().map_or(Value::Null, |by| {
                object([
                    ("sub", Value::String(by.sub.clone())),
                    ("email", by.email.clone().map_or(Value::Null, Value::String)),
                ])
            }),
        ),
        ("invitedAt", time(i.invited_at)),
        ("expiresAt", time(i.expires_at)),
        (
            "ticketUrl",
            i.ticket_url
                .as_ref()
                .map_or(Value::Null, |u| Value::String(u.expose().to_owned())),
        ),
        ("resent", Value::Boolean(i.resent)),
    ])
}

fn page_value(p: &InvitationPage) -> Value {
    object([
        (
            "items",
            Value::List(p.items.iter().map(invitation_value).collect()),
        ),
        ("page", Value::from(p.page)),
        ("perPage", Value::from(p.per_page)),
        ("total", Value::from(p.total.min(i32::MAX as u64))),
    ])
}

fn user_roles_value(r: &UserRoles) -> Value {
    object([
        ("userId", Value::String(r.user_id.clone())),
        ("roles", strings(&r.roles)),
    ])
}

/// A `[String!]` argument; absent or null is empty.
fn optional_strings(
    ctx: &ResolverContext<'_>,
    name: &str,
) -> Result<Vec<String>, async_graphql::Error> {
    match ctx.args.get(name) {
        Some(v) if !v.is_null() => v
            .list()?
            .iter()
            .map(|r| r.string().map(str::to_owned))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

fn input(ctx: &ResolverContext<'_>) -> Result<InviteInput, async_graphql::Error> {
    let input = ctx.args.try_get("input")?.object()?;
    let email = input.try_get("email")?.string()?.to_owned();
    let roles = input
        .try_get("roles")?
        .list()?
        .iter()
        .map(|r| r.string().map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()?;
    let name = match input.get("name") {
        Some(v) if !v.is_null() => Some(v.string()?.to_owned()),
        _ => None,
    };
    let metadata = match input.get("metadata") {
        Some(v) if !v.is_null() => match v.as_value().clone().into_json()? {
            serde_json::Value::Object(m) => Some(m),
            _ => return Err(ApiError::bad_field("input.metadata", "must be a JSON object").into()),
        },
        _ => None,
    };
    Ok(InviteInput {
        email,
        roles,
        name,
        metadata,
    })
}

/// Finishes an invitation operation whose caller the service has already
/// checked. The check comes first so that a caller who may not act cannot use
/// up an invitee's budget; the limit comes before `complete`, so that a
/// refused attempt never reaches the Management API.
async fn limited<C, F>(
    ctx: &ResolverContext<'_>,
    op: Operation,
    checked: C,
    email: fn(&C) -> &Email,
    complete: impl FnOnce(C) -> F,
) -> Result<Option<FieldValue<'static>>, async_graphql::Error>
where
    F: Future<Output = Result<Invitation, InviteError>>,
{
    crate::limits::enforce(ctx, op, Some(email(&checked).as_str())).await?;
    let inv = complete(checked).await.map_err(ApiError::from)?;
    Ok(Some(FieldValue::value(invitation_value(&inv))))
}

/// Binds a mutation that takes only the invitee's `email`: the two differ in
/// the service methods they call, and a generic over those (whose checked
/// values borrow the caller) would say more than this does.
macro_rules! by_email {
    ($b:expr, $svc:expr, $field:literal, $op:ident, $check:ident, $checked:ident, $complete:ident) => {{
        let s = $svc.clone();
        $b.bind($field, move |ctx: ResolverContext<'_>| {
            let svc = s.clone();
            FieldFuture::new(async move {
                let rc = ctx.data::<RequestContext>()?;
                let email = ctx.args.try_get("email")?.string()?.to_owned();
                let checked = svc.$check(&rc.principal, &email).map_err(ApiError::from)?;
                limited(&ctx, Operation::$op, checked, $checked::email, |c| {
                    svc.$complete(c)
                })
                .await
            })
        });
    }};
}

/// Binds the invitation operations (replacing the "not configured" placeholders).
pub fn bind(b: &mut Bindings, svc: Arc<InviteService>) {
    let s = svc.clone();
    b.bind("Mutation.inviteUser", move |ctx: ResolverContext<'_>| {
        let svc = s.clone();
        FieldFuture::new(async move {
            let rc = ctx.data::<RequestContext>()?;
            let input = input(&ctx)?;
            let checked = svc
                .check(&rc.principal, input)
                .await
                .map_err(ApiError::from)?;
            limited(
                &ctx,
                Operation::InviteUser,
                checked,
                CheckedInvitation::email,
                |c| svc.complete(c),
            )
            .await
        })
    });
    by_email!(
        b,
        svc,
        "Mutation.resendInvitation",
        ResendInvitation,
        check_resend,
        CheckedResend,
        complete_resend
    );
    by_email!(
        b,
        svc,
        "Mutation.cancelInvitation",
        CancelInvitation,
        check_cancel,
        CheckedCancel,
        complete_cancel
    );
    let s = svc.clone();
    b.bind(
        "Mutation.updateUserRoles",
        move |ctx: ResolverContext<'_>| {
            let svc = s.clone();
            FieldFuture::new(async move {
                let rc = ctx.data::<RequestContext>()?;
                let change = RoleChange {
                    user_id: ctx.args.try_get("userId")?.string()?.to_owned(),
                    add: optional_strings(&ctx, "add")?,
                    remove: optional_strings(&ctx, "remove")?,
                };
                let roles = svc
                    .update_user_roles(&rc.principal, change)
                    .await
                    .map_err(ApiError::from)?;
                Ok(Some(FieldValue::value(user_roles_value(&roles))))
            })
        },
    );
    b.bind("Query.invitations", move |ctx: ResolverContext<'_>| {
        let svc = svc.clone();
        FieldFuture::new(async move {
            let rc = ctx.data::<RequestContext>()?;
            let filter = match ctx.args.get("status") {
                Some(v) if !v.is_null() => StatusFilter::parse(v.enum_name()?)
                    .ok_or_else(|| ApiError::bad_field("status", "unknown status"))?,
                // an explicit null keeps the old default
                _ => StatusFilter::Only(super::InvitationStatus::Pending),
            };
            let page = match ctx.args.get("page") {
                Some(v) if !v.is_null() => v.i64()?,
                _ => 0,
            };
            let per_page = match ctx.args.get("perPage") {
                Some(v) if !v.is_null() => v.i64()?,
                _ => 50,
            };
            let p = svc
                .list_invitations(&rc.principal, filter, page, per_page)
                .await
                .map_err(ApiError::from)?;
            Ok(Some(FieldValue::value(page_value(&p))))
        })
    });
}
