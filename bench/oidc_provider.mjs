// The npm `oidc-provider` (a certified OpenID provider) configured like idgate's provider, for the
// token-endpoint benchmarks: one confidential client `rp` (client_secret_basic), RS256 ID tokens,
// 60 s codes, refresh tokens (rotated, as Dex does), in-memory storage (a Map: the package's own memory
// adapter is an LRU of 1,000 entries, which a bench overflows).
//
// Usage: node bench/oidc_provider.mjs PORT CLIENT_SECRET REDIRECT_URI ACCOUNT_ID EMAIL
// Bench-only route (outside the provider): GET /bench/mint?n=N&challenge=S256 -> N fresh authorization
// codes (PKCE S256 with that challenge), one a line,
// minted as the provider's own /auth would after a login (the token benches measure /token, not logins).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientSecret, redirectUri, accountId, email] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const SCOPE = 'openid email offline_access';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };

const store = new Map();
const grants = new Map(); // grantId -> keys of what was issued under it (for revokeByGrantId)

class MapAdapter {
  constructor(name) { this.name = name; }

  key(id) { return `${this.name}:${id}`; }

  async upsert(id, payload) {
    const key = this.key(id);
    store.set(key, payload);
    if (payload.grantId) {
      if (!grants.has(payload.grantId)) grants.set(payload.grantId, []);
      grants.get(payload.grantId).push(key);
    }
    if (payload.uid) store.set(`uid:${payload.uid}`, id);
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, id);
  }

  async find(id) { return store.get(this.key(id)); }

  async findByUid(uid) { const id = store.get(`uid:${uid}`); return id && this.find(id); }

  async findByUserCode(code) { const id = store.get(`userCode:${code}`); return id && this.find(id); }

  async consume(id) {
    const found = store.get(this.key(id));
    if (found) found.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) || []) store.delete(key);
    grants.delete(grantId);
  }
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'rp',
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email, email_verified: true }),
  }),
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => false },
  issueRefreshToken: async () => true,
  rotateRefreshToken: () => true,
  ttl: { AuthorizationCode: 60, AccessToken: 86400, IdToken: 86400, RefreshToken: 30 * 86400, Grant: 30 * 86400 },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

async function mint(n, codeChallenge) {
  const client = await provider.Client.find('rp');
  const authTime = Math.floor(Date.now() / 1000);
  const codes = [];
  for (let i = 0; i < n; i += 1) {
    const grant = new provider.Grant({ accountId, clientId: 'rp' }); // one per login, as /auth makes them
    grant.addOIDCScope(SCOPE);
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId, grantId, client, redirectUri, scope: SCOPE, authTime, claims: {},
      codeChallenge, codeChallengeMethod: 'S256',
    });
    codes.push(await code.save());
  }
  return codes;
}

const callback = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/bench/mint')) {
    const query = new URL(req.url, issuer).searchParams;
    const n = Math.min(Number(query.get('n') || '1'), 200000);
    mint(n, query.get('challenge')).then(
      (codes) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(codes.join('\n')); },
      (err) => { res.writeHead(500); res.end(String(err && err.stack)); },
    );
    return;
  }
  callback(req, res);
}).listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
