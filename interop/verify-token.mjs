// verify-token.mjs verifies tokens as the PowerSync Service does (its
// KeyStore.verifyJwt, with jose 4.15.9):
//
//   1. fetch the JWKS once; skip keys PowerSync skips (kty not RSA, EC or
//      OKP, use not "sig", key_ops without "verify") and import the rest
//      with jose.importJWK(jwk, jwk.alg): one key that fails to import
//      fails every token, as it fails PowerSync's whole refresh;
//   2. take the key whose kid equals the token header's kid (no match, or a
//      token without kid: fail); if the key has an alg, the token's must be
//      the same;
//   3. jose.jwtVerify with PowerSync's options: the seven asymmetric
//      algorithms, a clock tolerance of 60 s, "sub", "iat" and "exp"
//      required;
//   4. "aud" (a string or an array) must hold one of the --audience values,
//      byte for byte; exp - iat must be at most 86400; "parameters", if
//      present, must be a JSON object.
//
// Usage: node verify-token.mjs --jwks URL --audience AUD [--audience AUD2] < tokens
//
// Tokens are read one per line from stdin (an empty line is an empty, and
// so malformed, token; the last line break is optional). Prints
// a JSON array with one entry per token, in input order:
//
//   {"ok", "payload", "header", "error", "code"}
//
// payload is set when ok; header whenever the token's header decodes; code
// is the PowerSync error code of the failure (S2101 malformed, unknown key,
// bad signature or claims; S2103 expired; S2104 lifetime too long; S2105
// audience).

import * as jose from 'jose';
import { args, fail, fetchJWKS, message, print, readStdin, skipReason } from './lib.mjs';

const script = 'verify-token';

const algorithms = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const maxLifetime = 86400;

// A failure of one token, with its PowerSync error code.
class AuthError extends Error {
  constructor(code, msg) {
    super(msg);
    this.psCode = code;
  }
}

// loadKeys fetches the JWKS and imports its usable keys, as PowerSync's
// RemoteJWKSCollector does.
async function loadKeys(url) {
  const doc = await fetchJWKS(url);
  const keys = [];
  for (const jwk of doc.keys) {
    if (skipReason(jwk)) continue;
    keys.push({ jwk, key: await jose.importJWK(jwk, jwk.alg) });
  }
  return keys;
}

async function verify(token, keys, audiences) {
  let header;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch (e) {
    throw new AuthError('S2101', `malformed token: ${message(e)}`);
  }

  const found = header.kid ? keys.find((k) => k.jwk.kid === header.kid) : undefined;
  if (!found) {
    throw new AuthError('S2101', `no key in the JWKS has kid ${JSON.stringify(header.kid ?? null)}`);
  }
  if (found.jwk.alg && found.jwk.alg !== header.alg) {
    throw new AuthError('S2101', `unexpected token algorithm ${header.alg} for key alg ${found.jwk.alg}`);
  }

  let payload;
  try {
    ({ payload } = await jose.jwtVerify(token, found.key, {
      algorithms,
      clockTolerance: 60,
      requiredClaims: ['sub', 'iat', 'exp'],
    }));
  } catch (e) {
    throw new AuthError(e.code === 'ERR_JWT_EXPIRED' ? 'S2103' : 'S2101', message(e));
  }

  if (payload.aud == null) {
    throw new AuthError('S2105', 'missing required "aud" claim');
  }
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.some((a) => audiences.includes(a))) {
    throw new AuthError('S2105', `unexpected "aud" claim value ${JSON.stringify(payload.aud)}`);
  }
  const lifetime = payload.exp - payload.iat;
  if (lifetime > maxLifetime) {
    throw new AuthError('S2104', `token must expire in at most ${maxLifetime} s, got ${lifetime} s`);
  }
  const params = payload.parameters;
  if (params != null && (Array.isArray(params) || typeof params !== 'object')) {
    throw new AuthError('S2101', 'payload parameters must be an object');
  }
  return { header, payload };
}

const { values } = args(script, {
  jwks: { type: 'string' },
  audience: { type: 'string', multiple: true },
});
if (!values.jwks || !values.audience) {
  fail(script, 'usage: node verify-token.mjs --jwks URL --audience AUD [--audience AUD2] < tokens');
}

const input = (await readStdin()).replace(/\r?\n$/, '');
const tokens = input === '' ? [] : input.split(/\r?\n/);

// A JWKS that cannot be fetched or imported fails every token, as in
// PowerSync; the script itself still succeeds.
let keys = null;
let keysError = null;
try {
  keys = await loadKeys(values.jwks);
} catch (e) {
  keysError = `JWKS: ${message(e)}`;
}

const results = [];
for (const token of tokens) {
  let header = null;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    // reported by verify
  }
  if (keysError) {
    results.push({ ok: false, payload: null, header, error: keysError, code: 'S2101' });
    continue;
  }
  try {
    const r = await verify(token, keys, values.audience);
    results.push({ ok: true, payload: r.payload, header: r.header, error: null, code: null });
  } catch (e) {
    results.push({ ok: false, payload: null, header, error: message(e), code: e.psCode ?? 'S2101' });
  }
}
print(results);
