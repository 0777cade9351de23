// A relying party built on `openid-client` (a certified OpenID Connect RP), driven step by step by
// pytest (tests/interop/test_openid_client.py). Each run does one protocol step and exits:
//
//   node rp.mjs <step> '<json arguments>'
//
// The arguments always carry {issuer, client_id, client_secret}; the step discovers the provider
// (/.well-known/openid-configuration), runs, and prints ONE JSON object on stdout. On any error it
// prints {"error": {...what openid-client said...}} and exits 1, so pytest shows the RP's own words.
//
// State between steps (PKCE verifier, state, nonce, device code) is printed by one step and handed
// back by pytest to the next: the RP keeps nothing, pytest plays the browser in between.
//
// Steps: authorize, callback, refresh, introspect, revoke, userinfo, device_start, device_poll,
// end_session.

import dns from 'node:dns';
import http from 'node:http';
import process from 'node:process';

import * as client from 'openid-client';

// Node's resolver (glibc) does not map *.localhost to loopback; idgate's tests use such hosts
// (RFC 6761 §6.3), so every request of the RP goes through this fetch, which does.
function lookup(hostname, options, callback) {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options.all) {
      callback(null, [{ address: '127.0.0.1', family: 4 }]);
    } else {
      callback(null, '127.0.0.1', 4);
    }
    return;
  }
  dns.lookup(hostname, options, callback);
}

function bodyBytes(body) {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError(`unsupported request body ${Object.prototype.toString.call(body)}`);
}

function loopbackFetch(url, options) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'http:') {
      reject(new Error(`interop RP only speaks http to loopback, not ${target.protocol}`));
      return;
    }
    const payload = bodyBytes(options.body);
    const headers = { ...options.headers };
    if (payload) headers['content-length'] = String(payload.length);
    const req = http.request(target, { method: options.method, headers, lookup, signal: options.signal }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const out = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
        }
        const empty = [204, 205, 304].includes(res.statusCode) || options.method === 'HEAD';
        resolve(new Response(empty ? null : Buffer.concat(chunks), {
          status: res.statusCode, statusText: res.statusMessage, headers: out,
        }));
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${target.origin} within 10 s`)));
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

async function discover(args) {
  return client.discovery(
    new URL(args.issuer),
    args.client_id,
    args.client_secret ? { client_secret: args.client_secret } : undefined,
    args.client_secret ? client.ClientSecretBasic(args.client_secret) : client.None(),
    { execute: [client.allowInsecureRequests], [client.customFetch]: loopbackFetch, timeout: 10 },
  );
}

function tokens(response) {
  const { access_token, refresh_token, id_token, token_type, expires_in, scope } = response;
  return { access_token, refresh_token, id_token, token_type, expires_in, scope };
}

const steps = {
  // Discovery, then the authorization URL with PKCE S256, state and nonce.
  async authorize(config, args) {
    const code_verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: args.redirect_uri,
      scope: args.scope,
      code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(args.extra ?? {}),
    });
    return { url: url.href, code_verifier, state, nonce, metadata: config.serverMetadata() };
  },

  // The full callback validation (state, iss, code exchange, ID token signature and claims,
  // nonce, at_hash), then userinfo with the expected subject.
  async callback(config, args) {
    const response = await client.authorizationCodeGrant(config, new URL(args.callback_url), {
      pkceCodeVerifier: args.code_verifier,
      expectedState: args.state,
      expectedNonce: args.nonce,
      idTokenExpected: true,
    });
    const claims = response.claims();
    const userinfo = await client.fetchUserInfo(config, response.access_token, claims.sub);
    return { tokens: tokens(response), claims, userinfo };
  },

  async refresh(config, args) {
    const response = await client.refreshTokenGrant(config, args.refresh_token, args.extra);
    return { tokens: tokens(response), claims: response.claims() ?? null };
  },

  async userinfo(config, args) {
    return { userinfo: await client.fetchUserInfo(config, args.access_token, args.subject) };
  },

  async introspect(config, args) {
    return { introspection: await client.tokenIntrospection(config, args.token, args.extra) };
  },

  async revoke(config, args) {
    await client.tokenRevocation(config, args.token, args.extra);
    return { revoked: true };
  },

  async device_start(config, args) {
    return { device: await client.initiateDeviceAuthorization(config, { scope: args.scope }) };
  },

  // Polls /device/token (honouring interval and slow_down) until tokens or an error.
  async device_poll(config, args) {
    const signal = AbortSignal.timeout((args.timeout ?? 20) * 1000);
    const response = await client.pollDeviceAuthorizationGrant(config, args.device, undefined, { signal });
    return { tokens: tokens(response), claims: response.claims() ?? null };
  },

  async end_session(config, args) {
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: args.id_token_hint,
      post_logout_redirect_uri: args.post_logout_redirect_uri,
      state: args.state,
    });
    return { url: url.href };
  },
};

function describe(err) {
  const out = { name: err?.name, message: err?.message };
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err?.[key] !== undefined) out[key] = err[key];
  }
  if (err?.cause !== undefined) {
    out.cause = err.cause instanceof Error ? describe(err.cause) : err.cause;
  }
  return out;
}

async function main() {
  const [step, raw] = process.argv.slice(2);
  if (!(step in steps)) throw new Error(`unknown step ${step}; known: ${Object.keys(steps).join(', ')}`);
  const args = JSON.parse(raw ?? '{}');
  const config = await discover(args);
  return steps[step](config, args);
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (err) => {
    let cause = err?.cause;
    if (cause instanceof Response) cause = `HTTP ${cause.status}`;
    process.stdout.write(`${JSON.stringify({ error: describe({ ...err, name: err?.name, message: err?.message, cause }) })}\n`);
    process.exitCode = 1;
  },
);
