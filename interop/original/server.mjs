// server.mjs serves the original PowerSync example's two Supabase Edge
// Functions written its way, for the side-by-side benchmark of
// scripts/loadbench: Node 20, jose 4.15.9 (the version of ../package.json),
// node:http in place of Deno's serve.
//
//   GET /powersync-auth-anonymous  the powersync-auth-anonymous function: a
//                                  token for subject "anonymous", signed per
//                                  request, answered as
//                                  {"token", "powersync_url"}
//   GET /powersync-jwks            the powersync-jwks function:
//                                  {"keys": [the public JWK]}, stringified
//                                  per request
//
// Both read the example's secrets as it did (each the standard base64 of a
// JWK's JSON, as the example's generate-keys.ts printed them):
//
//   POWERSYNC_PRIVATE_KEY  the private JWK, imported once with jose.importJWK
//   POWERSYNC_PUBLIC_KEY   the public JWK the JWKS publishes
//   POWERSYNC_URL          the tokens' audience and the answer's powersync_url
//   SUPABASE_URL           the tokens' issuer (left out when unset)
//   PORT                   the port to listen on, on 127.0.0.1 (default 8091)
//
// Each token is what the example's function signed:
//
//   new jose.SignJWT({})
//     .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
//     .setSubject('anonymous').setIssuedAt().setIssuer(SUPABASE_URL)
//     .setAudience(POWERSYNC_URL).setExpirationTime('5m')
//
// with the example's shared CORS headers on every answer, and its
// 500 {"error": message} on failure. This is a benchmark stand-in, not a
// server to deploy: it has no rate limit, logging or graceful shutdown, as the
// functions had none of their own.
//
// Usage: PORT=8091 POWERSYNC_PRIVATE_KEY=... POWERSYNC_PUBLIC_KEY=... \
//          POWERSYNC_URL=... node interop/original/server.mjs

import * as jose from 'jose';
import { createServer } from 'node:http';

const script = 'original/server';

function fail(message) {
  process.stderr.write(`${script}: ${message}\n`);
  process.exit(1);
}

// secret decodes one of the example's secrets: base64 of a JWK's JSON.
function secret(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  try {
    return JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    fail(`${name} is not base64 of JSON`);
  }
}

const privateJwk = secret('POWERSYNC_PRIVATE_KEY');
const publicJwk = secret('POWERSYNC_PUBLIC_KEY');
const powersyncUrl = process.env.POWERSYNC_URL;
if (!powersyncUrl) fail('POWERSYNC_URL is not set');
const supabaseUrl = process.env.SUPABASE_URL || undefined;
const port = Number(process.env.PORT || 8091);

let privateKey;
try {
  privateKey = await jose.importJWK(privateJwk);
} catch (e) {
  fail(`POWERSYNC_PRIVATE_KEY: ${e.message}`);
}

// The example's _shared/cors.ts.
const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type',
};

function send(res, status, body) {
  res.writeHead(status, { ...corsHeaders, 'Content-Type': 'application/json' });
  res.end(body);
}

async function anonymous(req, res) {
  try {
    let jwt = new jose.SignJWT({})
      .setProtectedHeader({ alg: privateJwk.alg, kid: privateJwk.kid })
      .setSubject('anonymous')
      .setIssuedAt();
    if (supabaseUrl !== undefined) jwt = jwt.setIssuer(supabaseUrl);
    const token = await jwt.setAudience(powersyncUrl).setExpirationTime('5m').sign(privateKey);
    send(res, 200, JSON.stringify({ token, powersync_url: powersyncUrl }));
  } catch (error) {
    send(res, 500, JSON.stringify({ error: error.message }));
  }
}

function jwks(req, res) {
  send(res, 200, JSON.stringify({ keys: [publicJwk] }));
}

const server = createServer((req, res) => {
  if (req.method === 'OPTIONS') {
    res.writeHead(200, corsHeaders);
    res.end('ok');
    return;
  }
  // The path without a query string, as Supabase routes a function.
  const q = req.url.indexOf('?');
  const path = q === -1 ? req.url : req.url.slice(0, q);
  if (path === '/powersync-auth-anonymous') return anonymous(req, res);
  if (path === '/powersync-jwks') return jwks(req, res);
  send(res, 404, JSON.stringify({ error: 'not found' }));
});

server.on('error', (e) => fail(e.message));
server.listen(port, '127.0.0.1', () => {
  process.stderr.write(`${script}: listening on 127.0.0.1:${server.address().port}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
