// Helpers shared by the interop scripts: argument and stdin reading, error
// exit, and fetching a JWKS the way the PowerSync Service does.
//
// Every script prints JSON on stdout. A script that cannot do its job (bad
// arguments, unreadable input) prints one line on stderr and exits with 1;
// a key or token that fails a check is reported in the JSON instead.

import { parseArgs } from 'node:util';

// fail prints "<script>: <message>" on stderr and exits with status 1.
export function fail(script, message) {
  process.stderr.write(`${script}: ${message}\n`);
  process.exit(1);
}

// args parses process.argv with node:util's parseArgs, strictly: an unknown
// or malformed option ends the script through fail.
export function args(script, options, allowPositionals = false) {
  try {
    return parseArgs({ options, allowPositionals, strict: true });
  } catch (e) {
    fail(script, e.message);
  }
}

// readStdin returns all of stdin as a string.
export async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// print writes value as one line of JSON on stdout.
export function print(value) {
  process.stdout.write(JSON.stringify(value) + '\n');
}

// message returns an error's message prefixed with its jose code, if any.
export function message(e) {
  return e && e.code ? `${e.code}: ${e.message}` : String(e && e.message ? e.message : e);
}

// fetchJWKS fetches and parses a JWKS document as PowerSync's
// RemoteJWKSCollector does: GET with Accept: application/json and a 30 s
// timeout, a 2xx status, and a JSON object whose "keys" is an array of
// objects. It throws on anything else.
export async function fetchJWKS(url) {
  let res;
  try {
    res = await fetch(url, {
      method: 'GET',
      headers: { Accept: 'application/json' },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    // fetch says only "fetch failed"; the reason is in its cause.
    throw new Error(`fetching ${url}: ${e.cause ? e.cause.message : e.message}`);
  }
  if (!res.ok) {
    throw new Error(`JWKS request failed with ${res.status} ${res.statusText}`);
  }
  return parseJWKS(await res.text());
}

// parseJWKS parses a JWKS document and checks its shape.
export function parseJWKS(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`JWKS is not JSON: ${e.message}`);
  }
  if (
    data === null ||
    typeof data !== 'object' ||
    !Array.isArray(data.keys) ||
    !data.keys.every((k) => k !== null && typeof k === 'object' && !Array.isArray(k))
  ) {
    throw new Error('No keys found in JWKS response');
  }
  return data;
}

// skipReason reports why PowerSync would skip a JWK of a JWKS without an error,
// or null when it would import it: a kty other than RSA, EC or OKP, a "use"
// other than "sig", "key_ops" without "verify".
export function skipReason(jwk) {
  if (!['RSA', 'EC', 'OKP'].includes(jwk.kty)) return `kty ${JSON.stringify(jwk.kty)} is not RSA, EC or OKP`;
  if (typeof jwk.use === 'string' && jwk.use !== 'sig') return `use ${JSON.stringify(jwk.use)} is not "sig"`;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return 'key_ops does not include "verify"';
  return null;
}
