// seed-keygen.mjs makes a key pair exactly as the seed project's
// generate-keys.ts does (an RS256 key from jose, kid "powersync-" and 10
// random hex characters, each secret the standard base64 of the JWK's JSON),
// and prints it as JSON:
//
//   {"kid", "alg", "private_secret", "public_secret", "public_jwk"}
//
// With --print it prints instead exactly what generate-keys.ts printed, so
// that tests can compare layouts.
//
// Usage: node seed-keygen.mjs [--print]

import * as jose from 'jose';
import { randomBytes } from 'node:crypto';
import { args, fail, print } from './lib.mjs';

const script = 'seed-keygen';
const { values } = args(script, { print: { type: 'boolean', default: false } });

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

  const privateBase64 = b64(privateJwk);
  const publicBase64 = b64(publicJwk);

  if (values.print) {
    // generate-keys.ts's console.log, template and all.
    console.log(`Public Key:
${JSON.stringify(publicJwk, null, 2)}

---

Update secrets on Supabase by running the following:

supabase secrets set POWERSYNC_PUBLIC_KEY=${publicBase64}

supabase secrets set POWERSYNC_PRIVATE_KEY=${privateBase64}

# Get the PowerSync instance URL from the PowerSync dashboard
supabase secrets set POWERSYNC_URL=...
`);
  } else {
    print({
      kid,
      alg,
      private_secret: privateBase64,
      public_secret: publicBase64,
      public_jwk: publicJwk,
    });
  }
} catch (e) {
  fail(script, e.message);
}
