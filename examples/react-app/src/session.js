// The session: the access token lives in this module's memory only (never in
// localStorage/sessionStorage, where any injected script could read it). The
// refresh token is an HttpOnly cookie that the gateway sets and JavaScript never
// sees; `refreshSession()` trades it for a new access token.
import { GRAPHQL_URL } from './config.js';

const AUTH_FIELDS = `accessToken expiresAt user { id email name roles permissions }`;

const REFRESH = `mutation Refresh { refreshToken { ${AUTH_FIELDS} } }`;

/** status: 'restoring' (page load), 'authenticated' or 'anonymous'. */
let state = { status: 'restoring', accessToken: null, expiresAt: null, user: null };
const listeners = new Set();

function emit(next) {
  state = next;
  for (const l of listeners) l();
}

export const getSession = () => state;
export const getAccessToken = () => state.accessToken;
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Stores an `AuthPayload` (login, signup, refreshToken). */
export function setSession(auth) {
  emit({ status: 'authenticated', accessToken: auth.accessToken, expiresAt: auth.expiresAt, user: auth.user });
}

export function clearSession() {
  emit({ status: 'anonymous', accessToken: null, expiresAt: null, user: null });
}

/** Thrown when the gateway could not be asked (network, 5xx): the session is kept. */
export class RefreshUnavailable extends Error {}

let inflight = null;

/**
 * Exchanges the refresh cookie for a new access token. Concurrent callers share
 * one request: with refresh-token rotation, a second exchange of the same cookie
 * would be taken for token theft and revoke the whole session.
 * Resolves true (refreshed) or false (no valid cookie: logged out).
 */
export function refreshSession() {
  if (!inflight) {
    inflight = doRefresh().finally(() => {
      inflight = null;
    });
  }
  return inflight;
}

async function doRefresh() {
  let res;
  try {
    res = await fetch(GRAPHQL_URL, {
      method: 'POST',
      credentials: 'include', // sends the HttpOnly refresh cookie, accepts the rotated one
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
      },
      body: JSON.stringify({ operationName: 'Refresh', query: REFRESH }),
    });
  } catch (e) {
    throw new RefreshUnavailable(`the gateway is unreachable: ${e.message}`);
  }
  const body = await res.json().catch(() => ({}));
  const auth = body?.data?.refreshToken;
  if (auth?.accessToken) {
    setSession(auth);
    return true;
  }
  const code = body?.errors?.[0]?.extensions?.code;
  if (code === 'UNAUTHENTICATED') {
    // REFRESH_TOKEN_MISSING / REFRESH_TOKEN_INVALID: log in again
    clearSession();
    return false;
  }
  throw new RefreshUnavailable(body?.errors?.[0]?.message || `HTTP ${res.status}`);
}

let restoring = null;

/** Page load: restore the session from the cookie ("reload and stay logged in"). Runs once. */
export function restoreSession() {
  if (!restoring) {
    restoring = refreshSession().catch(() => {
      clearSession();
      return false;
    });
  }
  return restoring;
}
