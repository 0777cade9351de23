// `oidc-provider` (a certified OpenID Provider) as "any other identity provider" for idgate's proxy,
// started by pytest (tests/interop/test_oidc_provider.py):
//
//   node op.mjs '{"port": 4xxxx, "issuer": "http://idp.localhost:4xxxx", "client": {...}, "account": {...}}'
//
// It listens on 127.0.0.1:<port> over plain http (development defaults: it warns, that is expected)
// and runs until SIGTERM. Its own development login and consent pages (devInteractions) are what the
// scripted browser fills in: the login page accepts any login name as the account id with any
// password, so the one account the tests know is served by `findAccount` for whatever id it is asked.
//
// Options:
//   client   {client_id, client_secret, redirect_uris, post_logout_redirect_uris}: a confidential
//            client (client_secret_basic) that must use PKCE S256 for the authorization code flow.
//   account  the claims of the test account: email, email_verified, name, preferred_username, groups.
//   idTokenClaims  true (default): claims requested by scope go into the ID token too
//            (conformIdTokenClaims: false); false: oidc-provider's default, where an ID token issued
//            with an access token carries only sub and the rest comes from userinfo.

import crypto from 'node:crypto';
import process from 'node:process';

import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');
const { port, issuer, client, account } = options;

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const configuration = {
  clients: [{
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  conformIdTokenClaims: !(options.idTokenClaims ?? true),
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account };
      },
    };
  },
  jwks: { keys: [{ ...signingKey, kid: 'interop-rs256', alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('grant.error', (_ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));
provider.on('authorization.error', (_ctx, err) => console.error('authorization.error', err.message, err.error_description ?? ''));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} listening on 127.0.0.1:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
