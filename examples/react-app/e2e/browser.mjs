#!/usr/bin/env node
// Browser test of the example app against a real authgate (cookie custody),
// with playwright-core driving the system's Chromium (no browser download).
//
//   APP_URL=http://127.0.0.1:4173 GRAPHQL_URL=http://127.0.0.1:4000/graphql node e2e/browser.mjs
//
// Env: APP_URL (the built app, e.g. `vite preview`), GRAPHQL_URL (the gateway the
// app was built against), CHROMIUM (default /usr/bin/chromium), ARTIFACTS
// (screenshots on failure; default ../../target/e2e-artifacts), MAX_TOKEN_WAIT
// (seconds the silent-refresh step may wait for the access token to expire;
// default 30 — run the gateway with a short emulator.access_token_lifetime).
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHmac } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const APP_URL = process.env.APP_URL || 'http://127.0.0.1:4173';
const GRAPHQL_URL = process.env.GRAPHQL_URL || 'http://127.0.0.1:4000/graphql';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = resolve(process.env.ARTIFACTS || join(here, '..', '..', '..', 'target', 'e2e-artifacts'));
const MAX_TOKEN_WAIT = Number(process.env.MAX_TOKEN_WAIT || 30);
const WAIT = 15_000;

const run = Date.now().toString(36);
const userEmail = `browser-${run}@example.com`;
const inviteeEmail = `browser-invitee-${run}@example.com`;
const cancelEmail = `browser-cancelled-${run}@example.com`;
const password = 'Browser-Passw0rd!';

const profile = mkdtempSync(join(tmpdir(), 'authgate-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 30_000,
});
context.setDefaultTimeout(WAIT);
const page = context.pages()[0] || (await context.newPage());

// Every GraphQL exchange the app makes: operation name, status, body.
const exchanges = [];
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
page.on('response', async (res) => {
  const req = res.request();
  if (!res.url().startsWith(GRAPHQL_URL) || req.method() !== 'POST') return;
  let op = '?';
  try { op = JSON.parse(req.postData() || '{}').operationName || '?'; } catch { /* not JSON */ }
  let body = null;
  try { body = await res.json(); } catch { /* no body */ }
  exchanges.push({ op, status: res.status(), body });
});
const ops = (name) => exchanges.filter((e) => e.op === name);
const lastToken = () => {
  for (let i = exchanges.length - 1; i >= 0; i--) {
    const d = exchanges[i].body?.data || {};
    const auth = d.login || d.refreshToken || d.signup?.auth;
    if (auth?.accessToken) return auth.accessToken;
  }
  return null;
};

let passed = 0;
let failed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`  ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, `browser-${String(passed + failed).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    try { await page.screenshot({ path: shot, fullPage: true }); } catch { /* page gone */ }
    console.log(`  FAIL ${name}: ${e.message}`);
    console.log(`       screenshot: ${shot}`);
    console.log(`       url: ${page.url()}`);
    for (const l of consoleLines.slice(-10)) console.log(`       console ${l}`);
    for (const x of exchanges.slice(-5)) console.log(`       graphql ${x.op} → ${x.status} ${JSON.stringify(x.body?.errors?.[0]?.extensions || {})}`);
    throw e;
  }
}

/** Polls `cond` (bounded): response bodies are read asynchronously. */
async function until(cond, what, ms = WAIT) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

const text = (testid) => page.getByTestId(testid).innerText();

async function login(email, pw) {
  await page.goto(`${APP_URL}/#/login`);
  await page.getByTestId('login-form').waitFor();
  await page.fill('[data-testid=login-form] input[name=email]', email);
  await page.fill('[data-testid=login-form] input[name=password]', pw);
  await page.click('[data-testid=login-form] button[type=submit]');
  await page.getByTestId('me').waitFor();
  expect((await text('me-email')) === email, `me shows ${await text('me-email')}, expected ${email}`);
}

// The emulator's seeded user with an authenticator app (docs/emulator.md).
const OTP_USER = { email: 'otp@example.com', password: 'Otp-Passw0rd!', secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' };

// RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
function totp(base32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return n.toString().padStart(6, '0');
}

async function logout() {
  await page.click('[data-testid=logout]');
  await page.getByTestId('login-form').waitFor();
}

async function gatewayMe(token) {
  const res = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ me { id } }' }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

console.log(`browser test: app ${APP_URL}, gateway ${GRAPHQL_URL}, chromium ${CHROMIUM}`);
let exitCode = 0;
try {
  await step('anonymous visitor: me is refused', async () => {
    await page.goto(APP_URL);
    await page.getByTestId('me-refused').waitFor();
    await until(() => ops('Refresh').length >= 1, 'the restore attempt');
    expect(ops('Refresh').length === 1, 'the app tries to restore a session once on load');
    expect((await page.getByTestId('error').getAttribute('data-reason')) === 'TOKEN_MISSING', 'me refused with TOKEN_MISSING');
  });

  await step('sign up (logged in right after)', async () => {
    await page.goto(`${APP_URL}/#/signup`);
    await page.fill('[data-testid=signup-form] input[name=email]', userEmail);
    await page.fill('[data-testid=signup-form] input[name=password]', password);
    await page.fill('[data-testid=signup-form] input[name=name]', 'Browser Tester');
    await page.click('[data-testid=signup-form] button[type=submit]');
    await page.getByTestId('me').waitFor();
    expect((await text('me-email')) === userEmail, 'me shows the new user');
  });

  await step('the refresh token is an HttpOnly cookie, not in any body or storage', async () => {
    const cookies = await context.cookies(GRAPHQL_URL);
    const c = cookies.find((x) => x.name === 'authgate_refresh');
    expect(c, `no authgate_refresh cookie for ${GRAPHQL_URL}: ${JSON.stringify(cookies.map((x) => x.name))}`);
    expect(c.httpOnly && c.sameSite === 'Strict' && c.path === '/graphql', `cookie attributes ${JSON.stringify(c)}`);
    expect((await page.evaluate(() => document.cookie)) === '', 'JavaScript sees no cookie');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    expect(!/eyJ/.test(stored), 'no token in localStorage/sessionStorage');
    await until(() => ops('Signup').length > 0, 'the Signup exchange');
    const signup = ops('Signup').at(-1);
    expect(signup.body.data.signup.auth.refreshToken === undefined, 'the app does not even ask for refreshToken');
  });

  await step('reload: still logged in (refresh cookie)', async () => {
    const before = ops('Refresh').length;
    await page.reload();
    await page.getByTestId('me').waitFor();
    expect((await text('me-email')) === userEmail, 'me after reload');
    await until(() => ops('Refresh').length >= before + 1, 'the restore call');
    expect(ops('Refresh').length === before + 1, 'one refreshToken call restored the session');
    expect(ops('Refresh').at(-1).status === 200, 'refresh succeeded');
  });

  await step('log out: me refused, the old access token revoked, reload stays out', async () => {
    const token = lastToken();
    expect(token, 'captured the access token');
    await logout();
    const r = await gatewayMe(token);
    const exp = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp * 1000;
    if (Date.now() < exp - 500) {
      expect(r.status === 401 && r.body.errors[0].extensions.reason === 'TOKEN_REVOKED',
        `old token after logout: ${r.status} ${JSON.stringify(r.body.errors?.[0]?.extensions)}`);
    } else {
      // a slow machine: the short-lived token expired before the check
      expect(r.status === 401, `old token after logout: ${r.status}`);
      console.log('       (the old token had expired already: revocation not observable)');
    }
    await page.goto(`${APP_URL}/#/me`);
    await page.getByTestId('me-refused').waitFor();
    const before = ops('Refresh').length;
    await page.reload();
    await page.getByTestId('me-refused').waitFor();
    await until(() => ops('Refresh').length > before, 'the restore attempt');
    const last = ops('Refresh').at(-1);
    expect(last.status === 401, `refresh after logout answered ${last.status}`);
    expect(!(await context.cookies(GRAPHQL_URL)).some((c) => c.name === 'authgate_refresh' && c.value), 'cookie cleared');
  });

  await step('log in again', async () => {
    await login(userEmail, password);
  });

  await step('silent refresh: an expired access token is refreshed once and the query retried', async () => {
    const expiresAt = Date.parse(await text('me-expires'));
    const wait = expiresAt - Date.now() + 1500;
    expect(wait < MAX_TOKEN_WAIT * 1000,
      `the access token lives ${Math.round(wait / 1000)} s more; run the gateway with a short AUTHGATE__EMULATOR__ACCESS_TOKEN_LIFETIME (and AUTHGATE__GUARD__LEEWAY=0s) or raise MAX_TOKEN_WAIT`);
    await page.waitForTimeout(Math.max(wait, 0)); // the token must really expire: no other signal exists
    const refreshes = ops('Refresh').length;
    const mes = ops('Me').length;
    await page.click('[data-testid=me-refetch]');
    await page.waitForFunction((old) => {
      const el = document.querySelector('[data-testid=me-expires]');
      return el && Date.parse(el.textContent) > old;
    }, expiresAt);
    await until(() => ops('Me').length >= mes + 2, 'the retried Me');
    const newMes = ops('Me').slice(mes);
    expect(newMes.length === 2, `Me sent ${newMes.length} times (expected: refused, then retried)`);
    expect(newMes[0].status === 401 && newMes[0].body.errors[0].extensions.reason === 'TOKEN_EXPIRED',
      `first Me: ${newMes[0].status} ${JSON.stringify(newMes[0].body?.errors?.[0]?.extensions)}`);
    expect(newMes[1].status === 200 && newMes[1].body.data.me, 'retried Me succeeded');
    expect(ops('Refresh').length === refreshes + 1, `refreshToken called ${ops('Refresh').length - refreshes} times`);
    expect((await text('me-email')) === userEmail, 'still the same user');
    await logout();
  });

  let ticketUrl = '';
  await step('admin invites a user and sees the link', async () => {
    await login('admin@example.com', 'Admin-Passw0rd!');
    expect((await text('me-roles')).includes('admin'), 'admin role');
    await page.click('nav >> text=Admin');
    await page.getByTestId('invite-form').waitFor();
    await page.fill('[data-testid=invite-form] input[name=email]', inviteeEmail);
    await page.selectOption('[data-testid=invite-form] select[name=role]', 'user');
    await page.click('[data-testid=invite-form] button[type=submit]');
    await page.getByTestId('ticket-url').waitFor();
    ticketUrl = await page.getByTestId('ticket-url').getAttribute('href');
    expect(/reset-password\?ticket=/.test(ticketUrl), `ticket link ${ticketUrl}`);
    expect((await text('invited-email')) === inviteeEmail, 'invited email shown');
    await page.getByTestId('pending').getByText(inviteeEmail).waitFor();
  });

  await step('admin resends, then cancels an invitation, and its links stop working', async () => {
    await page.fill('[data-testid=invite-form] input[name=email]', cancelEmail);
    await page.click('[data-testid=invite-form] button[type=submit]');
    await page.getByTestId('invited-email').getByText(cancelEmail).waitFor();
    const first = await page.getByTestId('ticket-url').getAttribute('href');
    const row = page.locator(`[data-testid=invitation-row][data-email="${cancelEmail}"]`);
    await row.waitFor();
    const shown = await row.innerText();
    expect(shown.includes('admin@example.com'), `the row names the inviter: ${shown}`);
    expect(/pending/i.test(shown), `the row says pending: ${shown}`);
    await row.getByTestId('resend').click();
    await page.waitForFunction((old) => {
      const href = document.querySelector('[data-testid=ticket-url]')?.getAttribute('href');
      return Boolean(href) && href !== old;
    }, first);
    const second = await page.getByTestId('ticket-url').getAttribute('href');
    for (const link of [first, second]) {
      const res = await context.request.get(link.split('#')[0]);
      expect(res.status() === 200, `before the cancel the link answered ${res.status()}`);
    }
    await row.getByTestId('cancel').click();
    await row.waitFor({ state: 'detached' });
    const cancels = ops('CancelInvitation');
    expect(cancels.length === 1 && cancels[0].body?.data?.cancelInvitation?.email === cancelEmail,
      `cancelInvitation answered ${JSON.stringify(cancels[0]?.body)}`);
    // the invited user is gone, and both links with it
    for (const link of [first, second]) {
      const res = await context.request.get(link.split('#')[0]);
      expect(res.status() === 400, `the cancelled link answered ${res.status()}`);
    }
    await page.getByTestId('pending').getByText(inviteeEmail).waitFor();
  });

  await step('the admin sees data from the orders service (REST + GraphQL datasources)', async () => {
    await page.click('nav >> text=Orders');
    await page.getByTestId('orders').waitFor();
    const orders = await page.getByTestId('order').allTextContents();
    expect(orders.length > 0, 'orders listed');
    expect(orders.every((o) => !o.includes('unknown customer')), `every order has its customer: ${orders}`);
    expect((await text('products')).includes('Teapot'), 'products from the GraphQL upstream');
    await logout();
  });

  await step('the invitee sets a password through the link and logs in with the role', async () => {
    await page.goto(ticketUrl);
    await page.fill('input[name=password]', password);
    if (await page.locator('input[name=confirm_password]').count()) await page.fill('input[name=confirm_password]', password);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/u/reset-password') && r.request().method() === 'POST'),
      page.click('form button[type=submit]'),
    ]);
    expect([200, 302, 303].includes(answer.status()), `the ticket form answered ${answer.status()}`);
    await page.waitForLoadState('load');
    if (answer.status() === 200) {
      const h1 = await page.locator('h1').innerText();
      expect(/changed/i.test(h1), `the ticket page says: ${await page.locator('body').innerText()}`);
    }
    await login(inviteeEmail, password);
    expect((await text('me-roles')) === 'user', `invitee roles: ${await text('me-roles')}`);
  });

  await step('multi-factor login: the seeded OTP user types the code of its authenticator app', async () => {
    await logout();
    await page.goto(`${APP_URL}/#/login`);
    await page.getByTestId('login-form').waitFor();
    await page.fill('[data-testid=login-form] input[name=email]', OTP_USER.email);
    await page.fill('[data-testid=login-form] input[name=password]', OTP_USER.password);
    await page.click('[data-testid=login-form] button[type=submit]');
    await page.getByTestId('mfa-form').waitFor();
    const required = ops('Login').at(-1)?.body?.errors?.[0]?.extensions || {};
    expect(required.code === 'MFA_REQUIRED', `login answered ${JSON.stringify(required)}`);
    expect(!('mfaToken' in required) && String(required.mfa?.session).startsWith('mfa1.'), 'a sealed session, no mfa_token');
    await page.fill('[data-testid=mfa-code]', totp(OTP_USER.secret));
    await page.click('[data-testid=mfa-form] button[type=submit]');
    await page.getByTestId('me').waitFor();
    expect((await text('me-email')) === OTP_USER.email, `me shows ${await text('me-email')}`);
    expect((await context.cookies(GRAPHQL_URL)).some((c) => c.name === 'authgate_refresh' && c.value && c.httpOnly), 'refresh cookie set');
  });
} catch {
  exitCode = 1;
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(exitCode);
