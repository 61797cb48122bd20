// The `many-docs` workload's request stream: node docs.mjs OUT_FILE TYPE [HEAD] [TAIL] [STREAM]
//
// HEAD (1,000) distinct `me` documents drawn with a Zipf-like skew (the
// document of rank k is sent about 1/k as often as the first), then TAIL
// (2,000) rare documents sent once each per pass of the stream; STREAM
// (20,000) requests in all, shuffled with a fixed seed so every run and
// every server gets the same order. The head carries 90 % of the requests.
//
// Every document asks for `me` (unaliased) with its `id`, and otherwise
// differs in operation name, field order, aliases, named and inline
// fragments, directives and comments, so no two texts are equal. TYPE is the
// type of `me` (authgate: Viewer; the Node peers: Me), used by fragments'
// type conditions; only fields both schemas have are selected (`id`,
// `permissions`, `__typename`), none needing more than the token's claims.
// One JSON request body per line.
import { writeFileSync } from 'node:fs';

const [out, type, headArg = '1000', tailArg = '2000', streamArg = '20000'] = process.argv.slice(2);
if (!out || !type) {
  console.error('usage: node docs.mjs OUT_FILE TYPE [HEAD] [TAIL] [STREAM]');
  process.exit(2);
}
const head = Number(headArg);
const tail = Number(tailArg);
const stream = Number(streamArg);
if (!(head > 0 && tail >= 0 && stream >= head + tail)) {
  console.error('need HEAD > 0, TAIL >= 0 and STREAM >= HEAD + TAIL');
  process.exit(2);
}

// document number i (distinct for every i)
function doc(i) {
  const n = `Doc${i}`;
  switch (i % 8) {
    case 0:
      return `query ${n} { me { id p${i}: permissions } }`;
    case 1:
      return `query ${n} { me { ...F${i} } } fragment F${i} on ${type} { permissions id }`;
    case 2:
      return `query ${n} { me { id ... { a${i}: permissions } } }`;
    case 3:
      return `query ${n} { me { ... on ${type} { id } permissions __typename } }`;
    case 4:
      return `query ${n}($s: Boolean = false) { me { permissions @skip(if: $s) id } }`;
    case 5:
      return `query ${n} { t${i}: __typename me { __typename id } }`;
    case 6:
      return `# document ${i}\n{ me { id permissions } }`;
    default:
      return `query ${n} { me { id x${i}: id permissions @include(if: true) } }`;
  }
}

// a small fixed-seed PRNG (mulberry32): the same stream on every run
let seed = 20;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

// head: rank k gets a share proportional to 1/k, at least one request
const headRequests = stream - tail;
let harmonic = 0;
for (let k = 1; k <= head; k++) harmonic += 1 / k;
const lines = [];
for (let k = 1; k <= head; k++) {
  const count = Math.max(1, Math.round(headRequests / (k * harmonic)));
  const body = JSON.stringify({ query: doc(k - 1) });
  for (let c = 0; c < count; c++) lines.push(body);
}
for (let j = 0; j < tail; j++) lines.push(JSON.stringify({ query: doc(head + j) }));
// Fisher-Yates
for (let i = lines.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [lines[i], lines[j]] = [lines[j], lines[i]];
}
writeFileSync(out, lines.join('\n') + '\n');
console.error(
  `[load] many-docs: ${lines.length} requests, ${head} frequent + ${tail} rare distinct documents (${type})`,
);
