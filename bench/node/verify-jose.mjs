// Verify the exported access tokens with `jose`, one core (Node is single-threaded), and print
// verifications/s. Usage: node verify-jose.mjs DATA_DIR [SECONDS]
// Checks: algorithm ES256, key from the local JWKS by kid, signature, typ at+jwt, iss, aud,
// exp/nbf with 10 s tolerance, required claims — the same as ours.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const dir = process.argv[2];
const seconds = Number(process.argv[3] ?? 5);
const tokens = readFileSync(`${dir}/tokens.txt`, 'utf8').split('\n').filter(Boolean);
const meta = JSON.parse(readFileSync(`${dir}/meta.json`, 'utf8'));
const jwks = createLocalJWKSet(JSON.parse(readFileSync(`${dir}/jwks.json`, 'utf8')));
const options = {
  algorithms: [meta.alg],
  issuer: meta.issuer,
  audience: meta.audience,
  typ: meta.typ,
  clockTolerance: 10,
  requiredClaims: ['exp', 'nbf', 'iss', 'aud', 'sub'],
};

for (const token of tokens) await jwtVerify(token, jwks, options); // all must pass first
let done = 0;
const started = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
while (elapsed() < seconds) {
  for (const token of tokens) await jwtVerify(token, jwks, options);
  done += tokens.length;
}
const pkg = JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url)));
console.log(JSON.stringify({
  library: `jose ${pkg.version}`, node: process.version,
  verify_per_second: done / elapsed(), tokens: tokens.length,
}));
