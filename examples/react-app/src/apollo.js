import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';
import { from, switchMap, throwError } from 'rxjs';
import { GRAPHQL_URL } from './config.js';
import { clearSession, getAccessToken, refreshSession } from './session.js';

/** `extensions.reason` of an UNAUTHENTICATED error, if the error is one. */
export function unauthenticatedReason(error) {
  let errors = [];
  if (CombinedGraphQLErrors.is(error)) errors = error.errors;
  else if (ServerError.is(error)) {
    try {
      errors = JSON.parse(error.bodyText).errors || [];
    } catch {
      errors = [];
    }
  }
  const e = errors.find((x) => x.extensions?.code === 'UNAUTHENTICATED');
  return e ? e.extensions.reason || 'TOKEN_MISSING' : undefined;
}

/** Adds the in-memory access token; runs again when an operation is retried. */
const authLink = new ApolloLink((operation, forward) => {
  const token = getAccessToken();
  if (token) {
    operation.setContext(({ headers = {} }) => ({ headers: { ...headers, authorization: `Bearer ${token}` } }));
  }
  return forward(operation);
});

/**
 * Silent refresh: an operation refused with UNAUTHENTICATED / TOKEN_EXPIRED
 * triggers one refreshToken call (shared by every operation that fails at the
 * same time) and is retried once with the new token. Other reasons (revoked,
 * invalid) end the session: refreshing would not help.
 */
const refreshLink = new ErrorLink(({ error, operation, forward }) => {
  const reason = unauthenticatedReason(error);
  if (reason === 'TOKEN_EXPIRED' && !operation.getContext().authgateRetried) {
    operation.setContext({ authgateRetried: true });
    return from(refreshSession()).pipe(
      switchMap((refreshed) => (refreshed ? forward(operation) : throwError(() => error))),
    );
  }
  if (reason === 'TOKEN_REVOKED' || reason === 'TOKEN_INVALID') clearSession();
  return undefined;
});

export const client = new ApolloClient({
  link: ApolloLink.from([
    refreshLink,
    authLink,
    // credentials: 'include' — the refresh cookie goes with login/refresh/logout
    // and the rotated cookie is accepted. Content-Type: application/json
    // (HttpLink's default) satisfies the gateway's CSRF check.
    new HttpLink({ uri: GRAPHQL_URL, credentials: 'include' }),
  ]),
  cache: new InMemoryCache(),
});
