// sign-token.mjs mints a token as the seed project's powersync-auth edge
// function does: it decodes a POWERSYNC_PRIVATE_KEY secret (standard base64
// of a private JWK's JSON), imports it with jose.importJWK, and signs
//
//   new jose.SignJWT(claims)
//     .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
//     .setSubject(sub).setIssuedAt().setIssuer(iss).setAudience(aud)
//     .setExpirationTime('5m')
//
// Usage: node sign-token.mjs --secret B64 --sub S --aud A [--iss I]
//                            [--expires 5m] [--claims JSON]
//
// Without --secret the secret is read from stdin. --iss is left out of the
// token when not given (the seed always set it to SUPABASE_URL). --expires
// (a jose time span, such as 5m or 2h) and --claims (a JSON object of extra
// claims) are for tests of other cases; their defaults are the seed's.
// Prints {"token": "..."}.

import * as jose from 'jose';
import { args, fail, print, readStdin } from './lib.mjs';

const script = 'sign-token';

const { values } = args(script, {
  secret: { type: 'string' },
  sub: { type: 'string' },
  aud: { type: 'string' },
  iss: { type: 'string' },
  expires: { type: 'string', default: '5m' },
  claims: { type: 'string', default: '{}' },
});
if (values.sub === undefined || values.aud === undefined) {
  fail(script, 'usage: node sign-token.mjs --secret B64 --sub S --aud A [--iss I] [--expires 5m] [--claims JSON]');
}

try {
  const secret = (values.secret ?? (await readStdin())).trim();
  let jwk;
  try {
    jwk = JSON.parse(Buffer.from(secret, 'base64').toString('utf8'));
  } catch {
    throw new Error('the secret is not base64 of JSON');
  }
  const claims = JSON.parse(values.claims);
  const key = await jose.importJWK(jwk);

  let jwt = new jose.SignJWT(claims)
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .setSubject(values.sub)
    .setIssuedAt();
  if (values.iss !== undefined) jwt = jwt.setIssuer(values.iss);
  const token = await jwt.setAudience(values.aud).setExpirationTime(values.expires).sign(key);
  print({ token });
} catch (e) {
  // Never echo the secret: only the error's own text.
  fail(script, e.message);
}
