// import-jwks.mjs imports every key of a JWKS with jose 4.15.9, as the
// PowerSync Service does (jose.importJWK(key, key.alg)), and checks each key
// the way PowerSync's key collector filters them, plus what this library
// promises on top: kid and alg set, no private members, and a key that fits
// its alg (RSA of at least 2048 bits, the curve of the ES algorithm,
// Ed25519 for EdDSA), without which every token would fail later.
//
// Usage: node import-jwks.mjs URL    (fetched with Accept: application/json)
//        node import-jwks.mjs < jwks.json
//
// Prints a JSON array with one entry per key, in document order:
//
//   {"kid", "alg", "kty", "ok", "error"}
//
// ok is true when the key would be imported and used by PowerSync; error says
// why not. A document that cannot be fetched or has no "keys" array is a
// failure of the script (exit status 1).

import * as jose from 'jose';
import { args, fail, fetchJWKS, message, parseJWKS, print, readStdin, skipReason } from './lib.mjs';

const script = 'import-jwks';

// What each algorithm needs of the imported key: Node's asymmetricKeyType
// and, for EC, the named curve.
const fits = {
  RS256: { type: 'rsa' },
  RS384: { type: 'rsa' },
  RS512: { type: 'rsa' },
  ES256: { type: 'ec', curve: 'prime256v1' },
  ES384: { type: 'ec', curve: 'secp384r1' },
  ES512: { type: 'ec', curve: 'secp521r1' },
  EdDSA: { type: 'ed25519' },
};

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

// check returns null when jwk imports and fits its algorithm, or the reason
// it does not.
async function check(jwk) {
  const skip = skipReason(jwk);
  if (skip) return skip;
  const leaked = privateMembers.filter((m) => m in jwk);
  if (leaked.length > 0) return `private members published: ${leaked.join(', ')}`;
  if (typeof jwk.kid !== 'string' || jwk.kid === '') return 'no kid';
  if (typeof jwk.alg !== 'string') return 'no alg';
  const want = fits[jwk.alg];
  if (!want) return `alg ${JSON.stringify(jwk.alg)} is not one PowerSync accepts from a JWKS`;

  let key;
  try {
    key = await jose.importJWK(jwk, jwk.alg);
  } catch (e) {
    return `importJWK: ${message(e)}`;
  }
  if (key.type !== 'public') return `imported a ${key.type} key, not a public one`;
  if (key.asymmetricKeyType !== want.type) {
    return `${jwk.alg} needs key type ${want.type}, got ${key.asymmetricKeyType}`;
  }
  const details = key.asymmetricKeyDetails || {};
  if (want.type === 'rsa' && !(details.modulusLength >= 2048)) {
    return `RSA modulus of ${details.modulusLength} bits, under 2048`;
  }
  if (want.curve && details.namedCurve !== want.curve) {
    return `${jwk.alg} needs curve ${want.curve}, got ${details.namedCurve}`;
  }
  return null;
}

const { positionals } = args(script, {}, true);
if (positionals.length > 1) fail(script, 'usage: node import-jwks.mjs [URL] (or the JWKS on stdin)');

let doc;
try {
  doc = positionals.length === 1 ? await fetchJWKS(positionals[0]) : parseJWKS(await readStdin());
} catch (e) {
  fail(script, e.message);
}

const results = [];
for (const jwk of doc.keys) {
  const error = await check(jwk);
  results.push({
    kid: jwk.kid ?? null,
    alg: jwk.alg ?? null,
    kty: jwk.kty ?? null,
    ok: error === null,
    error,
  });
}
print(results);
