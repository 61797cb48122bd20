#!/usr/bin/env node
// Writes authgate.postman_collection.json (Postman v2.1) from the definitions
// below, so that the requests and their test scripts are reviewed as code.
//
//   node build-collection.mjs           # write the collection
//   node build-collection.mjs --check   # fail if the committed JSON is stale (scripts/e2e)
//
// Editing in the Postman app and exporting (Collection v2.1) works too; then
// port the change back here, or `--check` fails.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'authgate.postman_collection.json');

// ---------------------------------------------------------------- helpers

/** Script lines shared by every GraphQL test: parse once, small accessors. */
const PRELUDE = `
let body = {};
try { body = pm.response.json(); } catch (e) { body = {}; }
const errors = body.errors || [];
const err = errors[0] || {};
const ext = err.extensions || {};
`;

const lines = (s) => s.trim().split('\n').map((l) => l.replace(/^ {0,4}/, ''));

const script = (type, src) => ({
  listen: type,
  script: { type: 'text/javascript', exec: lines(src) },
});

/** Tests for an answer that must carry data and no error. */
const ok = (status = 200) => `
pm.test('HTTP ${status}', () => pm.response.to.have.status(${status}));
pm.test('no errors', () => pm.expect(errors, JSON.stringify(errors)).to.be.empty);
`;

/** Tests for an answer whose first error has the given code (and reason). */
const fails = (code, { status = 200, reason, field } = {}) => `
pm.test('HTTP ${status}', () => pm.response.to.have.status(${status}));
pm.test('extensions.code is ${code}', () => pm.expect(ext.code, JSON.stringify(errors)).to.eql('${code}'));
${reason ? `pm.test('extensions.reason is ${reason}', () => pm.expect(ext.reason).to.eql('${reason}'));` : ''}
${field ? `pm.test('data.${field} is null', () => pm.expect(body.data && body.data.${field}).to.eql(null));` : ''}
pm.test('the message leaks no secret', () => {
    const m = String(err.message || '');
    pm.expect(m).to.not.match(/eyJ[A-Za-z0-9_-]{10,}/);
    pm.expect(m).to.not.include(pm.environment.get('userPassword') || '\u0000');
});
`;

const jsonHeaders = [{ key: 'Content-Type', value: 'application/json' }];

const bearer = (variable) => ({
  type: 'bearer',
  bearer: [{ key: 'token', value: `{{${variable}}}`, type: 'string' }],
});

const NOAUTH = { type: 'noauth' };

/** A GraphQL-over-HTTP POST in Postman's GraphQL body mode. */
function gql(name, { query, variables = {}, auth = NOAUTH, test = '', pre, headers = [], description }) {
  const events = [script('test', PRELUDE + test)];
  if (pre) events.unshift(script('prerequest', pre));
  return {
    name,
    event: events,
    request: {
      auth,
      method: 'POST',
      header: [...jsonHeaders, ...headers],
      body: {
        mode: 'graphql',
        graphql: { query: query.trim(), variables: JSON.stringify(variables, null, 2) },
      },
      url: url('{{baseUrl}}/graphql'),
      description,
    },
    response: [],
  };
}

/** Any other request (raw bodies, GETs, emulator endpoints). */
function http(name, { method = 'GET', rawUrl, headers = [], body, auth = NOAUTH, test = '', pre, noRedirects, description }) {
  const events = [script('test', PRELUDE + test)];
  if (pre) events.unshift(script('prerequest', pre));
  const item = {
    name,
    event: events,
    request: { auth, method, header: headers, url: url(rawUrl), description },
    response: [],
  };
  if (body) item.request.body = body;
  if (noRedirects) item.protocolProfileBehavior = { followRedirects: false };
  return item;
}

function url(raw) {
  const [base, qs] = raw.split('?');
  const m = base.match(/^(\{\{\w+\}\})(\/.*)?$/);
  const u = { raw, host: [m ? m[1] : base], path: m && m[2] ? m[2].slice(1).split('/') : [] };
  if (qs) u.query = qs.split('&').map((kv) => { const [key, ...v] = kv.split('='); return { key, value: v.join('=') }; });
  return u;
}

const folder = (name, description, item, event) => ({ name, description, item, ...(event ? { event } : {}) });

/** Skips a request when the environment has no emulator (a real Auth0 tenant). */
const NEEDS_EMULATOR = `
if (!pm.environment.get('emulatorUrl')) {
    console.log('no emulatorUrl: skipping ' + pm.info.requestName + ' (emulator-only)');
    pm.execution.skipRequest();
}
`;

const emulatorBasic = {
  type: 'basic',
  basic: [
    { key: 'username', value: '{{emulatorClientId}}', type: 'string' },
    { key: 'password', value: '{{emulatorClientSecret}}', type: 'string' },
  ],
};

const AUTH_FIELDS = `accessToken tokenType expiresIn expiresAt refreshToken user { id email roles permissions }`;

// ---------------------------------------------------------------- setup

const setup = folder('00 setup', 'Health check; fresh unique e-mail addresses for this run.', [
  http('health', {
    rawUrl: '{{baseUrl}}/healthz',
    pre: `
// One run = one set of new users, so the collection can run again and again.
const run = Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
pm.collectionVariables.set('runId', run);
pm.collectionVariables.set('signupEmail', 'pm-' + run + '@example.com');
pm.collectionVariables.set('lockEmail', 'pm-lock-' + run + '@example.com');
pm.collectionVariables.set('inviteEmail', 'pm-invite-' + run + '@example.com');
pm.collectionVariables.set('unknownEmail', 'pm-nobody-' + run + '@example.com');
pm.collectionVariables.set('lockAttempt', 0);
`,
    test: `
pm.test('HTTP 200', () => pm.response.to.have.status(200));
pm.test('status ok', () => pm.expect(body.status).to.eql('ok'));
`,
  }),
  http('emulator: reset brute-force counters', {
    method: 'POST',
    rawUrl: '{{emulatorUrl}}/emulator/brute-force/reset',
    auth: emulatorBasic,
    pre: NEEDS_EMULATOR,
    description: 'Emulator only: earlier runs from this address start from a clean slate.',
    test: `pm.test('HTTP 204', () => pm.response.to.have.status(204));`,
  }),
]);

// ---------------------------------------------------------------- signup

const signup = folder('01 signup', 'signup: success (logged in right after), weak password, taken e-mail.', [
  gql('signup ok', {
    query: `mutation Signup($input: SignupInput!) {
  signup(input: $input) { userId email emailVerified auth { ${AUTH_FIELDS} } }
}`,
    variables: { input: { email: '{{signupEmail}}', password: '{{newPassword}}', name: 'Postman Tester' } },
    test: ok() + `
const s = (body.data || {}).signup || {};
pm.test('the user is created', () => {
    pm.expect(s.email).to.eql(pm.collectionVariables.get('signupEmail'));
    pm.expect(s.userId).to.be.a('string').and.not.be.empty;
    pm.expect(s.emailVerified).to.be.a('boolean');
});
pm.test('logged in right after sign-up (session.login_after_signup)', () => {
    pm.expect(s.auth, 'auth').to.be.an('object');
    pm.expect(s.auth.accessToken).to.be.a('string');
    pm.expect(s.auth.tokenType).to.eql('Bearer');
    pm.expect(s.auth.user.email).to.eql(s.email);
});
`,
  }),
  gql('signup weak password → BAD_USER_INPUT', {
    query: `mutation Signup($input: SignupInput!) { signup(input: $input) { userId } }`,
    variables: { input: { email: 'weak-{{signupEmail}}', password: 'short' } },
    test: fails('BAD_USER_INPUT', { field: 'signup' }) + `
pm.test('the policy is explained', () => {
    pm.expect(ext.reason).to.eql('PASSWORD_POLICY');
    pm.expect(ext.policy).to.be.a('string').and.not.be.empty;
    pm.expect(ext.field).to.eql('input.password');
});
`,
  }),
  gql('signup existing user → USER_EXISTS', {
    query: `mutation Signup($input: SignupInput!) { signup(input: $input) { userId } }`,
    variables: { input: { email: '{{signupEmail}}', password: '{{newPassword}}' } },
    test: fails('USER_EXISTS', { field: 'signup' }),
  }),
  gql('signup invalid email → BAD_USER_INPUT', {
    query: `mutation Signup($input: SignupInput!) { signup(input: $input) { userId } }`,
    variables: { input: { email: 'not-an-email', password: '{{newPassword}}' } },
    test: fails('BAD_USER_INPUT', { field: 'signup' }) + `
pm.test('names the field', () => pm.expect(ext.field).to.eql('input.email'));
`,
  }),
]);

// ---------------------------------------------------------------- login

const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { ${AUTH_FIELDS} } }`;

const login = folder('02 login', 'login: success, wrong password, brute-force lock-out after 10 failures.', [
  gql('login ok', {
    query: LOGIN,
    variables: { input: { email: '{{signupEmail}}', password: '{{newPassword}}' } },
    test: ok() + `
const l = (body.data || {}).login || {};
pm.test('tokens', () => {
    pm.expect(l.accessToken).to.be.a('string');
    pm.expect(l.expiresIn).to.be.above(0);
    pm.expect(l.user.email).to.eql(pm.collectionVariables.get('signupEmail'));
});
pm.test('body custody: the refresh token is in the payload', () => pm.expect(l.refreshToken).to.be.a('string').and.not.be.empty);
pm.collectionVariables.set('accessToken', l.accessToken);
pm.collectionVariables.set('refreshToken', l.refreshToken);
`,
  }),
  gql('login wrong password → INVALID_CREDENTIALS', {
    query: LOGIN,
    variables: { input: { email: '{{signupEmail}}', password: 'Wrong-Passw0rd!' } },
    test: fails('INVALID_CREDENTIALS', { field: 'login' }),
  }),
  gql('login unknown user → INVALID_CREDENTIALS (same answer)', {
    query: LOGIN,
    variables: { input: { email: '{{unknownEmail}}', password: 'Wrong-Passw0rd!' } },
    test: fails('INVALID_CREDENTIALS', { field: 'login' }),
  }),
  gql('lock-out: create a dedicated user', {
    query: `mutation Signup($input: SignupInput!) { signup(input: $input) { userId } }`,
    variables: { input: { email: '{{lockEmail}}', password: '{{newPassword}}' } },
    test: ok() + `pm.collectionVariables.set('lockAttempt', 0);`,
  }),
  gql('lock-out: wrong password ×11 → RATE_LIMITED', {
    description: 'Loops on itself (setNextRequest) 11 times: attempts 1–10 are INVALID_CREDENTIALS, the 11th RATE_LIMITED (Auth0 brute-force protection, threshold 10).',
    query: LOGIN,
    variables: { input: { email: '{{lockEmail}}', password: 'Wrong-Passw0rd!' } },
    pre: `
pm.collectionVariables.set('lockAttempt', Number(pm.collectionVariables.get('lockAttempt') || 0) + 1);
`,
    test: `
const n = Number(pm.collectionVariables.get('lockAttempt'));
if (n <= 10) {
    pm.test('attempt ' + n + ': INVALID_CREDENTIALS', () => pm.expect(ext.code).to.eql('INVALID_CREDENTIALS'));
    pm.execution.setNextRequest(pm.info.requestName);
} else {
    pm.test('attempt ' + n + ': HTTP 429 (nothing resolved)', () => pm.response.to.have.status(429));
    pm.test('attempt ' + n + ': RATE_LIMITED', () => pm.expect(ext.code, JSON.stringify(errors)).to.eql('RATE_LIMITED'));
    pm.test('retryAfter in seconds', () => pm.expect(ext.retryAfter).to.be.a('number').and.above(0));
}
`,
  }),
  gql('lock-out: right password still RATE_LIMITED', {
    query: LOGIN,
    variables: { input: { email: '{{lockEmail}}', password: '{{newPassword}}' } },
    test: fails('RATE_LIMITED', { status: 429, field: 'login' }),
  }),
]);

// ---------------------------------------------------------------- me

const ME = `query Me { me { id email emailVerified name roles permissions scopes expiresAt } }`;

const me = folder('03 me', 'me: with the token, without, with a garbage token.', [
  gql('me', {
    query: ME,
    auth: bearer('accessToken'),
    test: ok() + `
const m = (body.data || {}).me || {};
pm.test('the caller', () => {
    pm.expect(m.email).to.eql(pm.collectionVariables.get('signupEmail'));
    pm.expect(m.id).to.match(/^auth0\\|/);
    pm.expect(m.roles).to.be.an('array');
    pm.expect(new Date(m.expiresAt).getTime()).to.be.above(Date.now());
});
`,
  }),
  gql('me without token → 401 TOKEN_MISSING', {
    query: ME,
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'TOKEN_MISSING', field: 'me' }) + `
pm.test('WWW-Authenticate', () => pm.response.to.have.header('WWW-Authenticate'));
`,
  }),
  gql('me with a garbage token → 401 TOKEN_INVALID', {
    query: ME,
    headers: [{ key: 'Authorization', value: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA' }],
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'TOKEN_INVALID', field: 'me' }),
  }),
]);

// ---------------------------------------------------------------- refresh

const REFRESH = `mutation Refresh($rt: String) { refreshToken(refreshToken: $rt) { ${AUTH_FIELDS} } }`;

const refresh = folder('04 refresh (body custody)', 'refreshToken with the token in the argument; rotation; reuse detection.', [
  gql('refresh', {
    query: REFRESH,
    variables: { rt: '{{refreshToken}}' },
    test: ok() + `
const r = (body.data || {}).refreshToken || {};
pm.test('a new access token', () => pm.expect(r.accessToken).to.be.a('string'));
pm.test('rotation: a new refresh token', () => {
    pm.expect(r.refreshToken).to.be.a('string');
    pm.expect(r.refreshToken).to.not.eql(pm.collectionVariables.get('refreshToken'));
});
pm.collectionVariables.set('rotatedRefreshToken', pm.collectionVariables.get('refreshToken'));
pm.collectionVariables.set('accessToken', r.accessToken);
pm.collectionVariables.set('refreshToken', r.refreshToken);
`,
  }),
  gql('me with the refreshed token', {
    query: ME,
    auth: bearer('accessToken'),
    test: ok() + `pm.test('same user', () => pm.expect(body.data.me.email).to.eql(pm.collectionVariables.get('signupEmail')));`,
  }),
  gql('refresh without token → REFRESH_TOKEN_MISSING', {
    query: REFRESH,
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'REFRESH_TOKEN_MISSING', field: 'refreshToken' }),
  }),
  gql('refresh with garbage → REFRESH_TOKEN_INVALID', {
    query: REFRESH,
    variables: { rt: 'not-a-refresh-token' },
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'REFRESH_TOKEN_INVALID', field: 'refreshToken' }),
  }),
]);

// ---------------------------------------------------------------- logout

const logout = folder('05 logout', 'logout revokes the refresh token and the presented access token; both are then refused.', [
  gql('logout', {
    query: `mutation Logout($rt: String) { logout(refreshToken: $rt) { ok } }`,
    variables: { rt: '{{refreshToken}}' },
    auth: bearer('accessToken'),
    test: ok() + `pm.test('ok', () => pm.expect(body.data.logout.ok).to.eql(true));`,
  }),
  gql('me after logout → 401 TOKEN_REVOKED', {
    query: ME,
    auth: bearer('accessToken'),
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'TOKEN_REVOKED', field: 'me' }),
  }),
  gql('refresh after logout → REFRESH_TOKEN_INVALID', {
    query: REFRESH,
    variables: { rt: '{{refreshToken}}' },
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'REFRESH_TOKEN_INVALID', field: 'refreshToken' }),
  }),
  gql('logout again is harmless', {
    query: `mutation Logout($rt: String) { logout(refreshToken: $rt) { ok } }`,
    variables: { rt: '{{refreshToken}}' },
    test: ok() + `pm.test('ok', () => pm.expect(body.data.logout.ok).to.eql(true));`,
  }),
]);

// ---------------------------------------------------------------- password reset

const RESET = `mutation Reset($email: String!) { requestPasswordReset(email: $email) { ok message } }`;

const reset = folder('06 password reset', 'The same answer whether the account exists or not (no enumeration).', [
  gql('reset a known user', {
    query: RESET,
    variables: { email: '{{signupEmail}}' },
    test: ok() + `
pm.test('ok', () => pm.expect(body.data.requestPasswordReset.ok).to.eql(true));
pm.collectionVariables.set('resetMessage', body.data.requestPasswordReset.message);
`,
  }),
  gql('reset an unknown email: same answer', {
    query: RESET,
    variables: { email: '{{unknownEmail}}' },
    test: ok() + `
pm.test('same answer as for a known user', () => {
    pm.expect(body.data.requestPasswordReset.ok).to.eql(true);
    pm.expect(body.data.requestPasswordReset.message).to.eql(pm.collectionVariables.get('resetMessage'));
});
`,
  }),
  gql('reset an invalid email → BAD_USER_INPUT', {
    query: RESET,
    variables: { email: 'nope' },
    test: fails('BAD_USER_INPUT', { field: 'requestPasswordReset' }),
  }),
]);

// ---------------------------------------------------------------- invitations

const INVITE = `mutation Invite($input: InviteUserInput!) { inviteUser(input: $input) { userId email roles expiresAt ticketUrl resent } }`;

const invite = folder('07 invitation', 'An admin invites a user; the invitee sets a password through the ticket link and logs in with the role.', [
  gql('admin login', {
    query: LOGIN,
    variables: { input: { email: '{{adminEmail}}', password: '{{adminPassword}}' } },
    test: ok() + `
const l = body.data.login;
pm.test('admin role', () => pm.expect(l.user.roles).to.include('admin'));
pm.test('permission to invite', () => pm.expect(l.user.permissions).to.include('create:invitations'));
pm.collectionVariables.set('adminAccessToken', l.accessToken);
`,
  }),
  gql('inviteUser', {
    query: INVITE,
    variables: { input: { email: '{{inviteEmail}}', roles: ['user'], name: 'Invited Tester' } },
    auth: bearer('adminAccessToken'),
    test: ok() + `
const i = body.data.inviteUser;
pm.test('invitation', () => {
    pm.expect(i.email).to.eql(pm.collectionVariables.get('inviteEmail'));
    pm.expect(i.roles).to.eql(['user']);
    pm.expect(i.resent).to.eql(false);
    pm.expect(i.ticketUrl).to.match(/reset-password\\?ticket=/);
});
pm.collectionVariables.set('inviteTicketUrl', i.ticketUrl);
`,
  }),
  gql('invitations lists the invitee', {
    query: `query Pending { invitations(status: PENDING, perPage: 100) { total items { email roles } } }`,
    auth: bearer('adminAccessToken'),
    test: ok() + `
pm.test('pending', () => {
    const emails = body.data.invitations.items.map((i) => i.email);
    pm.expect(emails).to.include(pm.collectionVariables.get('inviteEmail'));
});
`,
  }),
  http('emulator: the link sent to the invitee', {
    rawUrl: '{{emulatorUrl}}/emulator/tickets/last?email={{inviteEmail}}',
    auth: emulatorBasic,
    pre: NEEDS_EMULATOR,
    description: 'Emulator only (a real tenant e-mails the link). The ticket id is taken from the link.',
    test: `
pm.test('HTTP 200', () => pm.response.to.have.status(200));
pm.test('the same link inviteUser returned', () => {
    const returned = String(pm.collectionVariables.get('inviteTicketUrl'));
    pm.expect(returned.split('#')[0]).to.eql(String(body.url).split('#')[0]);
});
const m = String(body.url).match(/[?&]ticket=([^&#]+)/);
pm.test('a ticket id', () => pm.expect(m).to.not.eql(null));
if (m) pm.collectionVariables.set('inviteTicket', decodeURIComponent(m[1]));
`,
  }),
  http('emulator: the invitee sets a password (ticket form)', {
    method: 'POST',
    rawUrl: '{{emulatorUrl}}/u/reset-password',
    pre: NEEDS_EMULATOR,
    noRedirects: true,
    headers: [{ key: 'Content-Type', value: 'application/x-www-form-urlencoded' }],
    body: {
      mode: 'urlencoded',
      urlencoded: [
        { key: 'ticket', value: '{{inviteTicket}}', type: 'text' },
        { key: 'password', value: '{{newPassword}}', type: 'text' },
        { key: 'confirm_password', value: '{{newPassword}}', type: 'text' },
      ],
    },
    test: `
pm.test('accepted (redirect or success page)', () => pm.expect(pm.response.code).to.be.oneOf([200, 302, 303]));
`,
  }),
  gql('invitee logs in', {
    query: LOGIN,
    pre: NEEDS_EMULATOR,
    variables: { input: { email: '{{inviteEmail}}', password: '{{newPassword}}' } },
    test: ok() + `pm.collectionVariables.set('inviteeAccessToken', body.data.login.accessToken);`,
  }),
  gql('invitee me: the invited role, e-mail verified', {
    query: ME,
    pre: NEEDS_EMULATOR,
    auth: bearer('inviteeAccessToken'),
    test: ok() + `
const m = body.data.me;
pm.test('the invitee', () => pm.expect(m.email).to.eql(pm.collectionVariables.get('inviteEmail')));
pm.test('role user', () => pm.expect(m.roles).to.eql(['user']));
pm.test('permissions of the role', () => pm.expect(m.permissions).to.include('read:orders'));
pm.test('e-mail verified by the ticket', () => pm.expect(m.emailVerified).to.eql(true));
`,
  }),
  gql('resendInvitation to an active user → USER_EXISTS', {
    query: `mutation Resend($email: String!) { resendInvitation(email: $email) { ticketUrl } }`,
    pre: NEEDS_EMULATOR,
    variables: { email: '{{inviteEmail}}' },
    auth: bearer('adminAccessToken'),
    test: fails('USER_EXISTS', { field: 'resendInvitation' }),
  }),
]);

// ---------------------------------------------------------------- invitation lifecycle

const INVITATION_FIELDS = `userId email roles status invitedAt expiresAt invitedBy { sub email } ticketUrl resent`;
const UPDATE_ROLES = `mutation UpdateRoles($userId: ID!, $add: [String!], $remove: [String!]) { updateUserRoles(userId: $userId, add: $add, remove: $remove) { userId roles } }`;
const CANCEL = `mutation Cancel($email: String!) { cancelInvitation(email: $email) { ${INVITATION_FIELDS} } }`;

const lifecycle = folder('07b invitation lifecycle', 'An admin lists invitations by status (with inviter and expiry), changes an invitee\'s roles, resends and cancels; the cancelled link no longer works. Needs an admin holding create:invitations and update:user_roles (the development seed does).', [
  gql('admin login', {
    query: LOGIN,
    pre: `pm.collectionVariables.set('cancelEmail', 'pm-cancel-' + pm.collectionVariables.get('runId') + '@example.com');`,
    variables: { input: { email: '{{adminEmail}}', password: '{{adminPassword}}' } },
    test: ok() + `
const l = body.data.login;
pm.test('permission to change roles', () => pm.expect(l.user.permissions).to.include('update:user_roles'));
pm.collectionVariables.set('adminAccessToken', l.accessToken);
pm.collectionVariables.set('adminId', l.user.id);
`,
  }),
  gql('inviteUser (to be cancelled)', {
    query: INVITE,
    variables: { input: { email: '{{cancelEmail}}', roles: ['user'] } },
    auth: bearer('adminAccessToken'),
    test: ok() + `pm.collectionVariables.set('cancelUserId', body.data.inviteUser.userId);`,
  }),
  gql('invitations(status: ALL): status, inviter, expiry', {
    query: `query All { invitations(status: ALL, perPage: 100) { total items { ${INVITATION_FIELDS} } } }`,
    auth: bearer('adminAccessToken'),
    test: ok() + `
const i = body.data.invitations.items.find((x) => x.email === pm.collectionVariables.get('cancelEmail'));
pm.test('listed', () => pm.expect(i, 'the invitation').to.be.an('object'));
pm.test('pending, by the admin, expiring later', () => {
    pm.expect(i.status).to.eql('PENDING');
    pm.expect(i.invitedBy.sub).to.eql(pm.collectionVariables.get('adminId'));
    pm.expect(i.invitedBy.email).to.eql(pm.environment.get('adminEmail'));
    pm.expect(new Date(i.expiresAt).getTime()).to.be.above(Date.now());
    pm.expect(i.ticketUrl).to.eql(null);
});
`,
  }),
  gql('invitations(status: EXPIRED) does not list it', {
    query: `query Expired { invitations(status: EXPIRED, perPage: 100) { total items { email status } } }`,
    auth: bearer('adminAccessToken'),
    test: ok() + `
pm.test('not expired', () => pm.expect(body.data.invitations.items.map((x) => x.email)).to.not.include(pm.collectionVariables.get('cancelEmail')));
`,
  }),
  gql('updateUserRoles: add admin, remove user', {
    query: UPDATE_ROLES,
    variables: { userId: '{{cancelUserId}}', add: ['admin'], remove: ['user'] },
    auth: bearer('adminAccessToken'),
    test: ok() + `pm.test('roles afterwards', () => pm.expect(body.data.updateUserRoles.roles).to.eql(['admin']));`,
  }),
  gql('updateUserRoles on one\'s own account → FORBIDDEN', {
    query: UPDATE_ROLES,
    variables: { userId: '{{adminId}}', remove: ['admin'] },
    auth: bearer('adminAccessToken'),
    test: fails('FORBIDDEN', { field: 'updateUserRoles' }),
  }),
  gql('updateUserRoles with an unknown role → BAD_USER_INPUT', {
    query: UPDATE_ROLES,
    variables: { userId: '{{cancelUserId}}', add: ['no-such-role'] },
    auth: bearer('adminAccessToken'),
    test: fails('BAD_USER_INPUT', { field: 'updateUserRoles' }),
  }),
  gql('resendInvitation: a fresh link', {
    query: `mutation Resend($email: String!) { resendInvitation(email: $email) { ${INVITATION_FIELDS} } }`,
    variables: { email: '{{cancelEmail}}' },
    auth: bearer('adminAccessToken'),
    test: ok() + `
const i = body.data.resendInvitation;
pm.test('resent', () => pm.expect(i.resent).to.eql(true));
const m = String(i.ticketUrl).match(/[?&]ticket=([^&#]+)/);
if (m) pm.collectionVariables.set('cancelTicket', decodeURIComponent(m[1]));
`,
  }),
  http('emulator: the link works before the cancel', {
    rawUrl: '{{emulatorUrl}}/u/reset-password?ticket={{cancelTicket}}',
    pre: NEEDS_EMULATOR,
    test: `pm.test('HTTP 200', () => pm.response.to.have.status(200));`,
  }),
  gql('cancelInvitation', {
    query: CANCEL,
    variables: { email: '{{cancelEmail}}' },
    auth: bearer('adminAccessToken'),
    test: ok() + `
const i = body.data.cancelInvitation;
pm.test('the cancelled invitation', () => {
    pm.expect(i.email).to.eql(pm.collectionVariables.get('cancelEmail'));
    pm.expect(i.status).to.eql('PENDING');
});
`,
  }),
  http('emulator: the cancelled link no longer works', {
    rawUrl: '{{emulatorUrl}}/u/reset-password?ticket={{cancelTicket}}',
    pre: NEEDS_EMULATOR,
    test: `pm.test('HTTP 400', () => pm.response.to.have.status(400));`,
  }),
  gql('cancelInvitation again → BAD_USER_INPUT', {
    query: CANCEL,
    variables: { email: '{{cancelEmail}}' },
    auth: bearer('adminAccessToken'),
    test: fails('BAD_USER_INPUT', { field: 'cancelInvitation' }),
  }),
  gql('cancelInvitation of an account no invitation created → BAD_USER_INPUT', {
    query: CANCEL,
    variables: { email: '{{userEmail}}' },
    auth: bearer('adminAccessToken'),
    test: fails('BAD_USER_INPUT', { field: 'cancelInvitation' }),
  }),
  gql('anonymous cancelInvitation → 401 UNAUTHENTICATED', {
    query: CANCEL,
    variables: { email: '{{cancelEmail}}' },
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'TOKEN_MISSING', field: 'cancelInvitation' }),
  }),
]);

// ---------------------------------------------------------------- forbidden

const forbidden = folder('08 forbidden', 'A valid token without the permission → FORBIDDEN; no token → UNAUTHENTICATED.', [
  gql('user login', {
    query: LOGIN,
    variables: { input: { email: '{{userEmail}}', password: '{{userPassword}}' } },
    test: ok() + `pm.collectionVariables.set('userAccessToken', body.data.login.accessToken);`,
  }),
  gql('user calls inviteUser → FORBIDDEN', {
    query: INVITE,
    variables: { input: { email: 'forbidden-{{inviteEmail}}', roles: ['admin'] } },
    auth: bearer('userAccessToken'),
    test: fails('FORBIDDEN', { field: 'inviteUser' }),
  }),
  gql('user calls cancelInvitation → FORBIDDEN', {
    query: `mutation Cancel($email: String!) { cancelInvitation(email: $email) { email } }`,
    variables: { email: 'forbidden-{{inviteEmail}}' },
    auth: bearer('userAccessToken'),
    test: fails('FORBIDDEN', { field: 'cancelInvitation' }),
  }),
  gql('user calls updateUserRoles → FORBIDDEN', {
    query: UPDATE_ROLES,
    variables: { userId: 'auth0|someone', add: ['admin'] },
    auth: bearer('userAccessToken'),
    test: fails('FORBIDDEN', { field: 'updateUserRoles' }),
  }),
  gql('user lists invitations → FORBIDDEN', {
    query: `query Pending { invitations { total } }`,
    auth: bearer('userAccessToken'),
    test: fails('FORBIDDEN', { field: 'invitations' }),
  }),
  gql('anonymous inviteUser → 401 UNAUTHENTICATED', {
    query: INVITE,
    variables: { input: { email: 'forbidden-{{inviteEmail}}', roles: ['admin'] } },
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'TOKEN_MISSING', field: 'inviteUser' }),
  }),
]);

// ---------------------------------------------------------------- datasources

const ORDERS = `query Orders { orders { id total status createdBy customer { name } } products { name price } }`;
const skipWithoutDatasources = [script('prerequest', `
if (pm.environment.get('datasources') === 'off') {
    console.log('skipped: datasources = off (no example orders service behind this gateway)');
    pm.execution.skipRequest();
}
`)];

const datasources = folder('08b datasources', 'The example orders service behind @rest and @graphql (cargo run starts it). Set datasources=off to skip.', [
  gql('user reads orders (REST, batched customers) and products (GraphQL)', {
    query: ORDERS,
    auth: bearer('userAccessToken'),
    test: ok() + `
const d = body.data || {};
pm.test('orders came from the orders service', () => pm.expect(d.orders).to.be.an('array').that.is.not.empty);
pm.test('each order has its customer (one batched call)', () => d.orders.forEach((o) => pm.expect(o.customer && o.customer.name).to.be.a('string')));
pm.test('products came through @graphql', () => pm.expect(d.products).to.be.an('array').that.is.not.empty);
`,
  }),
  gql('anonymous orders → 401 UNAUTHENTICATED (no upstream call)', {
    query: `query Orders { orders { id } }`,
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'TOKEN_MISSING' }),
  }),
  gql('user createOrder without write:orders → FORBIDDEN', {
    query: `mutation Create($input: CreateOrderInput!) { createOrder(input: $input) { id } }`,
    variables: { input: { customerId: 'c1', total: 12.5 } },
    auth: bearer('userAccessToken'),
    test: fails('FORBIDDEN', { field: 'createOrder' }),
  }),
], skipWithoutDatasources);

// ---------------------------------------------------------------- bad inputs

const bad = folder('09 bad requests', 'Malformed HTTP requests and documents.', [
  http('invalid JSON → 400 BAD_REQUEST', {
    method: 'POST',
    rawUrl: '{{baseUrl}}/graphql',
    headers: jsonHeaders,
    body: { mode: 'raw', raw: '{"query": "{ me { id } ' },
    test: `
pm.test('HTTP 400', () => pm.response.to.have.status(400));
pm.test('BAD_REQUEST', () => pm.expect(ext.code, JSON.stringify(body)).to.eql('BAD_REQUEST'));
`,
  }),
  gql('unknown field → GRAPHQL_VALIDATION_FAILED (200, application/json)', {
    query: `{ nope }`,
    headers: [{ key: 'Accept', value: 'application/json' }],
    test: `
pm.test('HTTP 200 (application/json)', () => pm.response.to.have.status(200));
pm.test('GRAPHQL_VALIDATION_FAILED', () => pm.expect(ext.code, JSON.stringify(errors)).to.eql('GRAPHQL_VALIDATION_FAILED'));
pm.test('no data', () => pm.expect(body).to.not.have.property('data'));
`,
  }),
  gql('unknown field → 400 with application/graphql-response+json', {
    query: `{ nope }`,
    headers: [{ key: 'Accept', value: 'application/graphql-response+json' }],
    test: `
pm.test('HTTP 400', () => pm.response.to.have.status(400));
pm.test('media type', () => pm.expect(pm.response.headers.get('Content-Type')).to.include('application/graphql-response+json'));
pm.test('GRAPHQL_VALIDATION_FAILED', () => pm.expect(ext.code).to.eql('GRAPHQL_VALIDATION_FAILED'));
`,
  }),
  gql('syntax error → GRAPHQL_PARSE_FAILED', {
    query: `{ me { id `,
    headers: [{ key: 'Accept', value: 'application/json' }],
    test: `
pm.test('HTTP 200 (application/json)', () => pm.response.to.have.status(200));
pm.test('GRAPHQL_PARSE_FAILED', () => pm.expect(ext.code, JSON.stringify(errors)).to.eql('GRAPHQL_PARSE_FAILED'));
`,
  }),
  http('mutation over GET → 405', {
    rawUrl: '{{baseUrl}}/graphql?query=mutation%20%7B%20logout%20%7B%20ok%20%7D%20%7D',
    headers: [{ key: 'apollo-require-preflight', value: 'true' }],
    test: `
pm.test('HTTP 405', () => pm.response.to.have.status(405));
pm.test('Allow: POST', () => pm.expect(String(pm.response.headers.get('Allow'))).to.include('POST'));
pm.test('BAD_REQUEST', () => pm.expect(ext.code, JSON.stringify(body)).to.eql('BAD_REQUEST'));
`,
  }),
  http('query over GET (with the CSRF header) → 200', {
    rawUrl: '{{baseUrl}}/graphql?query=%7B%20__typename%20%7D',
    headers: [{ key: 'apollo-require-preflight', value: 'true' }],
    test: ok() + `pm.test('Query', () => pm.expect(body.data.__typename).to.eql('Query'));`,
  }),
  http('simple request without a CSRF header → 400', {
    method: 'POST',
    rawUrl: '{{baseUrl}}/graphql',
    headers: [{ key: 'Content-Type', value: 'text/plain' }],
    body: { mode: 'raw', raw: '{"query":"{ __typename }"}' },
    test: `
pm.test('HTTP 400', () => pm.response.to.have.status(400));
pm.test('BAD_REQUEST', () => pm.expect(ext.code, JSON.stringify(body)).to.eql('BAD_REQUEST'));
`,
  }),
]);

// ---------------------------------------------------------------- cookie custody

const IF_COOKIE = [script('prerequest', `
if (pm.environment.get('custody') !== 'cookie') {
    console.log('custody is not "cookie": skipping ' + pm.info.requestName);
    pm.execution.skipRequest();
}
`)];

/** Reads the refresh cookie from Set-Cookie; stores it and returns its attributes. */
const READ_COOKIE = `
const setCookies = pm.response.headers.all().filter((h) => h.key.toLowerCase() === 'set-cookie').map((h) => h.value);
const name = pm.environment.get('cookieName') || 'authgate_refresh';
const sc = setCookies.find((c) => c.startsWith(name + '=')) || '';
const cookieValue = sc.slice(name.length + 1).split(';')[0];
const attrs = sc.split(';').slice(1).map((a) => a.trim().toLowerCase());
`;

const cookie = folder('10 cookie custody', 'Runs only when the environment says custody=cookie (a gateway with `[session] custody = "cookie"`, e.g. config/examples/react.toml). The refresh token never appears in a body: it travels in the HttpOnly cookie. Requests here send the cookie explicitly (Cookie header from a collection variable), like a browser would.', [
  gql('cookie: login sets the HttpOnly cookie', {
    query: LOGIN,
    variables: { input: { email: '{{userEmail}}', password: '{{userPassword}}' } },
    test: ok() + READ_COOKIE + `
pm.test('no refresh token in the body', () => pm.expect(body.data.login.refreshToken).to.eql(null));
pm.test('Set-Cookie ' + name, () => pm.expect(cookieValue).to.not.be.empty);
pm.test('HttpOnly, SameSite=Strict, Path=/graphql', () => {
    pm.expect(attrs).to.include('httponly');
    pm.expect(attrs).to.include('samesite=strict');
    pm.expect(attrs).to.include('path=/graphql');
});
pm.collectionVariables.set('cookieRefresh', cookieValue);
pm.collectionVariables.set('cookieAccessToken', body.data.login.accessToken);
`,
  }),
  gql('cookie: refreshToken from the cookie (rotated)', {
    query: `mutation Refresh { refreshToken { ${AUTH_FIELDS} } }`,
    headers: [{ key: 'Cookie', value: '{{cookieName}}={{cookieRefresh}}' }],
    test: ok() + READ_COOKIE + `
pm.test('a new access token, no refresh token in the body', () => {
    pm.expect(body.data.refreshToken.accessToken).to.be.a('string');
    pm.expect(body.data.refreshToken.refreshToken).to.eql(null);
});
pm.test('a rotated cookie', () => {
    pm.expect(cookieValue).to.not.be.empty;
    pm.expect(cookieValue).to.not.eql(pm.collectionVariables.get('cookieRefresh'));
});
pm.collectionVariables.set('cookieRefreshOld', pm.collectionVariables.get('cookieRefresh'));
pm.collectionVariables.set('cookieRefresh', cookieValue);
pm.collectionVariables.set('cookieAccessToken', body.data.refreshToken.accessToken);
`,
  }),
  gql('cookie: logout clears the cookie', {
    query: `mutation Logout { logout { ok } }`,
    auth: bearer('cookieAccessToken'),
    headers: [{ key: 'Cookie', value: '{{cookieName}}={{cookieRefresh}}' }],
    test: ok() + READ_COOKIE + `
pm.test('ok', () => pm.expect(body.data.logout.ok).to.eql(true));
pm.test('cookie cleared (Max-Age=0)', () => {
    pm.expect(cookieValue).to.eql('');
    pm.expect(attrs).to.include('max-age=0');
});
`,
  }),
  gql('cookie: refresh with the logged-out cookie → REFRESH_TOKEN_INVALID', {
    query: `mutation Refresh { refreshToken { accessToken } }`,
    headers: [{ key: 'Cookie', value: '{{cookieName}}={{cookieRefresh}}' }],
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'REFRESH_TOKEN_INVALID', field: 'refreshToken' }),
  }),
  gql('cookie: refresh without a cookie → REFRESH_TOKEN_MISSING', {
    query: `mutation Refresh { refreshToken { accessToken } }`,
    test: fails('UNAUTHENTICATED', { status: 401, reason: 'REFRESH_TOKEN_MISSING', field: 'refreshToken' }),
  }),
], IF_COOKIE);

// ---------------------------------------------------------------- multi-factor login

/** Pre-request: the emulator only; computes the OTP of {{mfaSecret}} now (RFC 6238 with CryptoJS). */
const TOTP_NOW = NEEDS_EMULATOR + `
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
let bits = '';
for (const c of pm.collectionVariables.get('mfaSecret').replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
}
let keyHex = '';
for (let i = 0; i + 8 <= bits.length; i += 8) keyHex += parseInt(bits.substr(i, 8), 2).toString(16).padStart(2, '0');
const counterHex = Math.floor(Date.now() / 30000).toString(16).padStart(16, '0');
const mac = CryptoJS.HmacSHA1(CryptoJS.enc.Hex.parse(counterHex), CryptoJS.enc.Hex.parse(keyHex)).toString(CryptoJS.enc.Hex);
const offset = parseInt(mac.slice(-1), 16);
const code = (parseInt(mac.substr(offset * 2, 8), 16) & 0x7fffffff) % 1000000;
pm.collectionVariables.set('mfaCode', String(code).padStart(6, '0'));
`;

const MFA_VERIFY = `mutation MfaVerify($input: MfaVerifyInput!) { mfaVerify(input: $input) { ${AUTH_FIELDS} } }`;

const mfa = folder('11 multi-factor login', 'The emulator\'s seeded user with an authenticator app (otp@example.com, docs/emulator.md): login answers MFA_REQUIRED with a sealed session (never Auth0\'s mfa_token), a wrong code is MFA_INVALID_CODE, the code computed from the seeded secret logs in, and the session works once. Skipped without an emulator.', [
  gql('mfa: login → MFA_REQUIRED with a sealed session', {
    pre: NEEDS_EMULATOR,
    query: LOGIN,
    variables: { input: { email: '{{mfaEmail}}', password: '{{mfaPassword}}' } },
    test: fails('MFA_REQUIRED', { field: 'login' }) + `
const mfa = ext.mfa || {};
pm.test('a sealed session, not the mfa_token', () => {
    pm.expect(mfa.session).to.be.a('string').and.match(/^mfa1\./);
    pm.expect(ext).to.not.have.property('mfaToken');
});
pm.test('the enrolled authenticator app is listed', () => {
    pm.expect(mfa.enrollmentRequired).to.eql(false);
    pm.expect((mfa.authenticators || []).map((a) => a.type)).to.include('otp');
});
pm.collectionVariables.set('mfaSession', mfa.session);
`,
  }),
  gql('mfa: a wrong code → MFA_INVALID_CODE', {
    pre: NEEDS_EMULATOR,
    query: MFA_VERIFY,
    variables: { input: { session: '{{mfaSession}}', otp: '000000' } },
    test: fails('MFA_INVALID_CODE', { field: 'mfaVerify' }),
  }),
  gql('mfa: the authenticator app\'s code → tokens', {
    pre: TOTP_NOW,
    query: MFA_VERIFY,
    variables: { input: { session: '{{mfaSession}}', otp: '{{mfaCode}}' } },
    test: ok() + `
const v = (body.data || {}).mfaVerify || {};
pm.test('tokens for the MFA user', () => {
    pm.expect(v.accessToken).to.be.a('string');
    pm.expect(v.user.email).to.eql(pm.collectionVariables.get('mfaEmail'));
});
`,
  }),
  gql('mfa: the same session again → MFA_SESSION_EXPIRED', {
    pre: TOTP_NOW,
    query: MFA_VERIFY,
    variables: { input: { session: '{{mfaSession}}', otp: '{{mfaCode}}' } },
    test: fails('MFA_SESSION_EXPIRED', { field: 'mfaVerify' }),
  }),
]);

// ---------------------------------------------------------------- collection

const collection = {
  info: {
    _postman_id: '6f1e4f5c-2b7a-4d1e-9a43-0a7c2b1f0e01',
    name: 'authgate',
    description: [
      'The authgate client contract, executable: sign-up, login, me, refresh, logout, password reset,',
      'invitations, multi-factor login, authorization and malformed requests. Every request asserts the HTTP status,',
      '`errors[].extensions.code` (and `reason`) and the data.',
      '',
      'Environment: authgate.postman_environment.json (baseUrl, emulatorUrl, seeded credentials).',
      'Requests against the emulator\'s test endpoints skip themselves when `emulatorUrl` is empty',
      '(a real Auth0 tenant). The folder "10 cookie custody" runs only with `custody=cookie`.',
      'Generated by tests/postman/build-collection.mjs; see docs/clients.md.',
    ].join('\n'),
    schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
  },
  auth: NOAUTH,
  event: [
    script('prerequest', `
// Folder runs (without "00 setup") still get unique addresses.
if (!pm.collectionVariables.get('runId')) {
    const run = Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
    pm.collectionVariables.set('runId', run);
    pm.collectionVariables.set('signupEmail', 'pm-' + run + '@example.com');
    pm.collectionVariables.set('lockEmail', 'pm-lock-' + run + '@example.com');
    pm.collectionVariables.set('inviteEmail', 'pm-invite-' + run + '@example.com');
    pm.collectionVariables.set('unknownEmail', 'pm-nobody-' + run + '@example.com');
}
`),
  ],
  variable: [
    { key: 'newPassword', value: 'Postman-Passw0rd!', type: 'string' },
    { key: 'runId', value: '', type: 'string' },
    { key: 'mfaEmail', value: 'otp@example.com', type: 'string' },
    { key: 'mfaPassword', value: 'Otp-Passw0rd!', type: 'string' },
    { key: 'mfaSecret', value: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', type: 'string' },
  ],
  item: [setup, signup, login, me, refresh, logout, reset, invite, lifecycle, forbidden, datasources, bad, mfa, cookie],
};

const text = JSON.stringify(collection, null, 2) + '\n';
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(out, 'utf8'); } catch { /* missing */ }
  if (current !== text) {
    console.error('authgate.postman_collection.json is stale: run `node tests/postman/build-collection.mjs`');
    process.exit(1);
  }
  console.log('authgate.postman_collection.json is up to date');
} else {
  writeFileSync(out, text);
  console.log('wrote ' + out);
}
