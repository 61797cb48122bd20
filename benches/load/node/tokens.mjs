// Precompute token files for the `reject` and `unknown-kid` workloads from one
// valid access token: node tokens.mjs VALID_TOKEN COUNT OUT_DIR
//  - bad-signature.txt: distinct payloads (a `jti` nonce) under the valid
//    header and the original signature, so every signature check fails;
//  - unknown-kid.txt: distinct unknown `kid`s, the original payload and signature.
import { writeFileSync } from 'node:fs';

const [token, countArg, outDir] = process.argv.slice(2);
if (!token || !countArg || !outDir) {
  console.error('usage: node tokens.mjs VALID_TOKEN COUNT OUT_DIR');
  process.exit(2);
}
const count = Number(countArg);
const [h, p, s] = token.split('.');
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const header = JSON.parse(Buffer.from(h, 'base64url').toString());
const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
const bad = [];
const unknown = [];
for (let i = 0; i < count; i++) {
  bad.push(`${h}.${b64({ ...payload, jti: `bench-${i}` })}.${s}`);
  unknown.push(`${b64({ ...header, kid: `bench-unknown-${i}` })}.${p}.${s}`);
}
writeFileSync(`${outDir}/bad-signature.txt`, bad.join('\n') + '\n');
writeFileSync(`${outDir}/unknown-kid.txt`, unknown.join('\n') + '\n');
