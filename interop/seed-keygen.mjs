// seed-keygen.mjs makes a key pair exactly as the seed project's
// generate-keys.ts does (an RS256 key from jose, kid "powersync-" and 10
// random hex characters, each secret the standard base64 of the JWK's JSON),
// and prints it as JSON:
//
//   {"kid", "alg", "private_secret", "public_secret", "public_jwk"}
//
// Usage: node seed-keygen.mjs

import * as jose from 'jose';
import { randomBytes } from 'node:crypto';
import { fail, print } from './lib.mjs';

const script = 'seed-keygen';

try {
  const alg = 'RS256';
  // 5 random bytes are 10 lowercase hex characters, as cryptoRandomString
  // ({length: 10, type: 'hex'}) made them.
  const kid = `powersync-${randomBytes(5).toString('hex')}`;

  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });

  // The seed spreads the exported JWK first, then alg and kid.
  const privateJwk = { ...(await jose.exportJWK(privateKey)), alg, kid };
  const publicJwk = { ...(await jose.exportJWK(publicKey)), alg, kid };

  // Deno's std base64.encode of a string: standard alphabet, padded, of the
  // UTF-8 bytes.
  const b64 = (value) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

  print({
    kid,
    alg,
    private_secret: b64(privateJwk),
    public_secret: b64(publicJwk),
    public_jwk: publicJwk,
  });
} catch (e) {
  fail(script, e.message);
}
