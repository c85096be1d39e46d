// A real OpenID provider for Brygga's tests (oidc-provider, pinned in package.json).
//
// node provider.mjs <config.json>: the test suite writes the config (tests/oidc_provider.py) and starts this
// process; "listening" on stdout says it serves. The config holds:
//   issuer, port          where it serves (http on 127.0.0.1: the tests' machine)
//   jwks                  its PRIVATE signing keys ({keys: [...]}): the first of an algorithm signs, all are
//                         published; the tests restart the provider with another set to rotate keys
//   clients               OAuth clients (oidc-provider client metadata); `brygga_claims` on a client are added
//                         to its client-credentials access tokens (an API caller's roles and unit)
//   accounts              login → claims: the development login page takes any login and password, and the
//                         account's claims go into its ID token (scope "brygga")
//   resource, audience    the resource indicator whose access tokens are JWTs for Brygga's audience
import fs from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const CLAIMS = ['hsa_id', 'unit', 'groups', 'roles', 'personal_number', 'organisations'];

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ['brygga-test-cookie-key-not-secret'] },
  claims: { openid: ['sub'], profile: ['name'], brygga: CLAIMS },
  scopes: ['openid', 'profile', 'brygga'],
  conformIdTokenClaims: false, // the scope's claims in the ID token, as Entra ID and Inera's IdP put them there
  pkce: { methods: ['S256'], required: () => true },
  extraClientMetadata: { properties: ['brygga_claims'] },
  features: {
    devInteractions: { enabled: true }, // its own login page: any login, any password
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== config.resource) throw new Provider.errors.InvalidTarget();
        return { scope: 'api', audience: config.audience, accessTokenFormat: 'jwt', accessTokenTTL: 600,
                 jwt: { sign: { alg: config.access_token_alg || 'ES256' } } };
      },
    },
  },
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'ClientCredentials') return ctx.oidc.client.brygga_claims || {};
    return undefined;
  },
  async findAccount(ctx, id) {
    const claims = config.accounts[id] || {}; // an unknown login signs in with no claims but its sub
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  // First-party: every client here is Brygga itself, so no consent page (the login page alone).
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
                                                accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile brygga');
    await grant.save();
    return grant;
  },
  ttl: { IdToken: config.id_token_ttl || 600, AuthorizationCode: 60 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.listen(config.port, '127.0.0.1', () => { console.log('listening'); });
