#!/usr/bin/env node
// GraphQL-over-HTTP conformance audit of a running authgate, with graphql-http's
// serverAudits. Every MUST has to pass (exit 1 otherwise); SHOULD and MAY
// results are printed, not enforced.
//
//   node audit.mjs http://127.0.0.1:4000/graphql [--json results.json]
//
// authgate refuses "simple" cross-site requests (CSRF prevention, as Apollo
// Server does): the audit's requests carry `apollo-require-preflight: true`,
// which a real client sends too (or it uses Content-Type: application/json).
import { serverAudits } from 'graphql-http';
import { writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--')) || process.env.AUTHGATE_URL || 'http://127.0.0.1:4000/graphql';
const jsonAt = args.indexOf('--json');
const jsonOut = jsonAt >= 0 ? args[jsonAt + 1] : undefined;

/** global fetch, with the CSRF-prevention header and a bounded wait. */
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers || {});
  headers.set('apollo-require-preflight', 'true');
  return fetch(input, { ...init, headers, signal: AbortSignal.timeout(10_000) });
}

const audits = serverAudits({ url, fetchFn });
const results = [];
for (const audit of audits) {
  let r;
  try {
    r = await audit.fn();
  } catch (e) {
    r = { id: audit.id, name: audit.name, status: 'error', reason: `the audit threw: ${e && e.message}` };
  }
  let detail = '';
  if (r.status !== 'ok' && r.response) {
    try {
      detail = `HTTP ${r.response.status} ${r.response.headers.get('content-type') || ''}`;
    } catch { /* body already used */ }
  }
  results.push({ id: r.id, name: r.name, status: r.status, reason: r.reason, detail });
}

const level = (r) => r.name.split(' ')[0];
const failed = results.filter((r) => level(r) === 'MUST' && r.status !== 'ok');
const summary = {};
for (const r of results) {
  const k = `${level(r)} ${r.status}`;
  summary[k] = (summary[k] || 0) + 1;
}

console.log(`graphql-http ${audits.length} audits against ${url}`);
for (const lv of ['MUST', 'SHOULD', 'MAY']) {
  for (const r of results.filter((x) => level(x) === lv)) {
    const mark = r.status === 'ok' ? 'ok  ' : lv === 'MUST' ? 'FAIL' : r.status;
    // MUST results are only listed when they fail: there are many and they all pass.
    if (lv === 'MUST' && r.status === 'ok') continue;
    console.log(`  [${mark.padEnd(6)}] ${r.id} ${r.name}${r.status === 'ok' ? '' : `\n             ${r.reason}${r.detail ? ` (${r.detail})` : ''}`}`);
  }
}
console.log(`summary: ${Object.entries(summary).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2) + '\n');

const must = results.filter((r) => level(r) === 'MUST');
console.log(`${must.length - failed.length} passed, ${failed.length} failed`);
if (failed.length > 0) {
  console.error(`graphql-http: ${failed.length} MUST audit(s) failed`);
  process.exit(1);
}
