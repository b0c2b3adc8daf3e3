import fc from 'fast-check';
import { auth0Issuer, cognitoIssuer, entraIssuers, JwksOptionsError, keycloakIssuer, oktaIssuer } from '../../lib';

/** Runs `build` and returns the JwksOptionsError it throws (failing the test if it throws nothing or anything else). */
function refusal(build: () => unknown): JwksOptionsError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(JwksOptionsError);
    expect((error as JwksOptionsError).code).toBe('ERR_JWKS_OPTIONS');
    return error as JwksOptionsError;
  }
  throw new Error('expected a JwksOptionsError, nothing was thrown');
}

/** Presets receive input from JS callers and env files too: the types do not hold at runtime. */
const loose = <T>(value: unknown): T => value as T;

const TENANT_A = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const TENANT_B = 'fa15d692-e9c7-4460-a743-29f2956fd429';
const API_CLIENT = '6e74172b-be56-4843-9ff4-e66a39bb12e3';

/** Where each identity provider puts scopes, permissions and roles, as its preset says. */
const AUTH0_GRANTS = { scopes: 'scope', permissions: 'permissions', roles: [] };
const OKTA_GRANTS = { scopes: ['scp', 'scope'], permissions: [], roles: [] };
const ENTRA_GRANTS = { scopes: 'scp', permissions: [], roles: 'roles' };
const KEYCLOAK_GRANTS = { scopes: 'scope', permissions: [], roles: [['realm_access', 'roles']] };
const COGNITO_GRANTS = { scopes: 'scope', permissions: [], roles: 'cognito:groups' };

describe('auth0Issuer', () => {
  const expected = {
    issuer: 'https://tenant.eu.auth0.com/',
    jwksUri: 'https://tenant.eu.auth0.com/.well-known/jwks.json',
    grantClaims: AUTH0_GRANTS,
    audience: 'https://api.example.com',
  };

  it('builds the issuer with its trailing slash and the JWKS at /.well-known/jwks.json', () => {
    expect(auth0Issuer({ domain: 'tenant.eu.auth0.com', audience: 'https://api.example.com' })).toEqual(expected);
  });

  it.each(['https://tenant.eu.auth0.com', 'https://tenant.eu.auth0.com/', 'tenant.eu.auth0.com/', 'HTTPS://Tenant.EU.auth0.com/'])(
    'accepts the domain written as %s',
    (domain) => {
      expect(auth0Issuer({ domain, audience: 'https://api.example.com' })).toEqual(expected);
    },
  );

  it('takes a custom domain as the issuer host', () => {
    expect(auth0Issuer({ domain: 'https://login.example.com/', audience: ['https://api.example.com', 'urn:other'] })).toEqual({
      issuer: 'https://login.example.com/',
      jwksUri: 'https://login.example.com/.well-known/jwks.json',
      grantClaims: AUTH0_GRANTS,
      audience: ['https://api.example.com', 'urn:other'],
    });
  });

  it('passes the other issuer options through and adds no key the caller left out', () => {
    const preset = auth0Issuer({
      domain: 'tenant.auth0.com',
      audience: 'https://api',
      algorithms: ['RS256', 'PS256'],
      clockToleranceSec: 5,
      maxTokenAgeSec: 3600,
      requiredClaims: ['sub', 'scope'],
      typ: 'at+jwt',
      requiredClaimValues: { gty: 'client-credentials' },
    });
    expect(preset).toEqual({
      issuer: 'https://tenant.auth0.com/',
      jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json',
      grantClaims: AUTH0_GRANTS,
      audience: 'https://api',
      algorithms: ['RS256', 'PS256'],
      clockToleranceSec: 5,
      maxTokenAgeSec: 3600,
      requiredClaims: ['sub', 'scope'],
      typ: 'at+jwt',
      requiredClaimValues: { gty: 'client-credentials' },
    });
    // an undefined key would hide the module-wide default if the issuer is spread over it
    expect(Object.keys(auth0Issuer({ domain: 'tenant.auth0.com', audience: 'a', typ: undefined }))).toEqual(['issuer', 'jwksUri', 'audience', 'grantClaims']);
  });

  it('copies arrays, so changing the caller\'s array afterwards changes nothing', () => {
    const audience = ['https://api'];
    const algorithms = ['RS256'];
    const preset = auth0Issuer({ domain: 'tenant.auth0.com', audience, algorithms });
    audience.push('https://evil');
    algorithms.push('PS256');
    expect(preset.audience).toEqual(['https://api']);
    expect(preset.algorithms).toEqual(['RS256']);
  });

  it.each([
    [undefined, /domain is required: a host name such as "tenant\.eu\.auth0\.com", got undefined/],
    [42, /domain is required.*got 42/],
    ['', /domain is required/],
    ['http://tenant.auth0.com', /domain must be served over https, got "http:\/\/tenant\.auth0\.com"/],
    ['ftp://tenant.auth0.com', /must be served over https/],
    ['tenant.auth0.com/api/v2', /domain must be the host name alone, without a path, query or fragment/],
    ['tenant.auth0.com?x=1', /without a path, query or fragment/],
    ['tenant.auth0.com:443', /domain must be the host name alone, without a port/],
    ['user@tenant.auth0.com', /without credentials/],
    [' tenant.auth0.com', /domain must be a host name such as "tenant\.eu\.auth0\.com"/],
    ['tenant', /must be a host name/],
    ['tenant..auth0.com', /must be a host name/],
    ['-tenant.auth0.com', /must be a host name/],
    ['tenant_x.auth0.com', /must be a host name/],
  ])('refuses the domain %p', (domain, message) => {
    expect(refusal(() => auth0Issuer(loose({ domain, audience: 'https://api' }))).message).toMatch(message);
  });

  it.each([
    [undefined, /audience is required: your API's Identifier/],
    ['', /audience is required/],
    [[], /audience is required/],
    [['https://api', ''], /audience is required/],
    [['https://api', 7], /audience is required/],
    // a stray comma in a literal leaves a hole that Array.prototype.every would skip
    [[, 'https://api'], /audience is required/], // eslint-disable-line no-sparse-arrays
  ])('refuses the audience %p', (audience, message) => {
    expect(refusal(() => auth0Issuer(loose({ domain: 'tenant.auth0.com', audience }))).message).toMatch(message);
  });

  it('lists every mistake at once, each named after the preset', () => {
    const error = refusal(() => auth0Issuer(loose({ domain: 'http://x', audience: [] })));
    expect(error.problems).toHaveLength(2);
    expect(error.problems.every((p) => p.startsWith('auth0Issuer(): '))).toBe(true);
  });

  it('refuses an unknown option, naming the ones it knows', () => {
    const error = refusal(() => auth0Issuer(loose({ domain: 'tenant.auth0.com', audience: 'a', clockTolerance: 5 })));
    expect(error.message).toMatch(/auth0Issuer\(\): unknown option "clockTolerance"; known: domain, audience, algorithms, clockToleranceSec/);
  });

  it.each([
    [{ issuer: 'https://evil/' }, /unknown option "issuer" \(a preset builds it\)/],
    [{ jwksUri: 'https://evil/jwks' }, /unknown option "jwksUri" \(a preset builds it\)/],
    [{ audienceClaim: 'client_id' }, /unknown option "audienceClaim" \(a preset builds it\)/],
  ])('refuses %p: what the preset derives is not overridable through it', (extra, message) => {
    expect(refusal(() => auth0Issuer(loose({ domain: 'tenant.auth0.com', audience: 'a', ...extra }))).message).toMatch(message);
  });

  it.each([undefined, null, 'tenant.auth0.com', ['tenant.auth0.com']])('refuses %p instead of an options object', (input) => {
    expect(refusal(() => auth0Issuer(loose(input))).message).toMatch(/auth0Issuer\(\): options must be an object such as \{ domain, audience \}/);
  });
});

describe('oktaIssuer', () => {
  it('defaults to the "default" custom authorization server and its api://default audience', () => {
    expect(oktaIssuer({ domain: 'dev-123456.okta.com' })).toEqual({
      issuer: 'https://dev-123456.okta.com/oauth2/default',
      jwksUri: 'https://dev-123456.okta.com/oauth2/default/v1/keys',
      grantClaims: OKTA_GRANTS,
      audience: 'api://default',
    });
  });

  it('builds a named custom authorization server, which needs its own audience', () => {
    expect(oktaIssuer({ domain: 'https://id.example.com/', authorizationServerId: 'aus1a2b3c4D5e6F7g8h9', audience: 'api://orders' })).toEqual({
      issuer: 'https://id.example.com/oauth2/aus1a2b3c4D5e6F7g8h9',
      jwksUri: 'https://id.example.com/oauth2/aus1a2b3c4D5e6F7g8h9/v1/keys',
      grantClaims: OKTA_GRANTS,
      audience: 'api://orders',
    });
    expect(refusal(() => oktaIssuer({ domain: 'dev-1.okta.com', authorizationServerId: 'aus1a2b3c4D5e6F7g8h9' })).message).toMatch(
      /audience is required: the Audience setting of authorization server "aus1a2b3c4D5e6F7g8h9"/,
    );
  });

  it('builds the org authorization server when authorizationServerId is null', () => {
    expect(oktaIssuer({ domain: 'dev-123456.okta.com', authorizationServerId: null, audience: '0oa1b2c3d4e5f6g7h8i9' })).toEqual({
      issuer: 'https://dev-123456.okta.com',
      jwksUri: 'https://dev-123456.okta.com/oauth2/v1/keys',
      grantClaims: OKTA_GRANTS,
      audience: '0oa1b2c3d4e5f6g7h8i9',
    });
    expect(refusal(() => oktaIssuer({ domain: 'dev-1.okta.com', authorizationServerId: null })).message).toMatch(
      /audience is required: with the org authorization server, your app's client ID/,
    );
  });

  it.each([
    ['', /authorizationServerId must be the id of a custom authorization server/],
    ['..', /authorizationServerId must be/],
    ['default/../v1', /authorizationServerId must be/],
    ['aus%2F', /authorizationServerId must be/],
    ['aus 1', /authorizationServerId must be/],
    [42, /authorizationServerId must be.*got 42/],
  ])('refuses the authorization server id %p rather than put it in a URL path', (authorizationServerId, message) => {
    expect(refusal(() => oktaIssuer(loose({ domain: 'dev-1.okta.com', authorizationServerId, audience: 'a' }))).message).toMatch(message);
  });

  it('points a domain given with its /oauth2/ path at authorizationServerId', () => {
    expect(refusal(() => oktaIssuer({ domain: 'https://dev-1.okta.com/oauth2/default' })).message).toMatch(
      /domain must be the host name alone.*pass the authorization server as authorizationServerId/,
    );
  });
});

describe('entraIssuers', () => {
  it('builds the v2.0 issuer and keys of one tenant by default', () => {
    expect(entraIssuers({ tenantId: TENANT_A, audience: API_CLIENT })).toEqual([
      {
        issuer: `https://login.microsoftonline.com/${TENANT_A}/v2.0`,
        jwksUri: `https://login.microsoftonline.com/${TENANT_A}/discovery/v2.0/keys`,
        grantClaims: ENTRA_GRANTS,
        audience: API_CLIENT,
      },
    ]);
  });

  it('builds the v1.0 issuer on sts.windows.net with its trailing slash, and the v1 keys', () => {
    expect(entraIssuers({ tenantId: TENANT_A, audience: ['api://orders', API_CLIENT], versions: [1] })).toEqual([
      {
        issuer: `https://sts.windows.net/${TENANT_A}/`,
        jwksUri: `https://login.microsoftonline.com/${TENANT_A}/discovery/keys`,
        grantClaims: ENTRA_GRANTS,
        audience: ['api://orders', API_CLIENT],
      },
    ]);
  });

  it('builds one issuer per allowed tenant and version', () => {
    const issuers = entraIssuers({ tenants: [TENANT_A, TENANT_B.toUpperCase(), TENANT_A], audience: API_CLIENT, versions: [1, 2], clockToleranceSec: 30 });
    expect(issuers.map((i) => [i.issuer, i.jwksUri])).toEqual([
      [`https://sts.windows.net/${TENANT_A}/`, `https://login.microsoftonline.com/${TENANT_A}/discovery/keys`],
      [`https://login.microsoftonline.com/${TENANT_A}/v2.0`, `https://login.microsoftonline.com/${TENANT_A}/discovery/v2.0/keys`],
      // the GUID as Entra writes it in iss: lower case
      [`https://sts.windows.net/${TENANT_B}/`, `https://login.microsoftonline.com/${TENANT_B}/discovery/keys`],
      [`https://login.microsoftonline.com/${TENANT_B}/v2.0`, `https://login.microsoftonline.com/${TENANT_B}/discovery/v2.0/keys`],
    ]);
    expect(issuers.every((i) => i.audience === API_CLIENT && i.clockToleranceSec === 30)).toBe(true);
    // each issuer is its own object: configuring one never changes another
    expect(new Set(issuers).size).toBe(4);
  });

  it('asks for the application\'s own keys with appId (custom signing keys)', () => {
    const [v1, v2] = entraIssuers({ tenantId: TENANT_A, audience: API_CLIENT, versions: [1, 2], appId: API_CLIENT.toUpperCase() });
    expect(v1.jwksUri).toBe(`https://login.microsoftonline.com/${TENANT_A}/discovery/keys?appid=${API_CLIENT}`);
    expect(v2.jwksUri).toBe(`https://login.microsoftonline.com/${TENANT_A}/discovery/v2.0/keys?appid=${API_CLIENT}`);
  });

  it.each(['common', 'organizations', 'consumers', 'Common'])('refuses the %s endpoint alias as a tenant', (tenantId) => {
    expect(refusal(() => entraIssuers({ tenantId, audience: API_CLIENT })).message).toMatch(
      new RegExp(`tenant "${tenantId}" is an endpoint alias, not a tenant: .*list the tenant IDs you accept in tenants`),
    );
  });

  it('names the personal-accounts tenant when refusing "consumers"', () => {
    expect(refusal(() => entraIssuers({ tenants: ['consumers'], audience: API_CLIENT })).message).toMatch(/9188040d-6c67-4c5b-b112-36a304b66dad/);
  });

  it.each([
    ['contoso.onmicrosoft.com', /tenant "contoso\.onmicrosoft\.com" must be a tenant ID \(a GUID\): tokens carry the GUID in iss/],
    ['72f988bf86f141af91ab2d7cd011db47', /must be a tenant ID \(a GUID\)/],
    ['{72f988bf-86f1-41af-91ab-2d7cd011db47}', /must be a tenant ID/],
    [42, /tenant 42 must be a tenant ID \(a GUID\)/],
  ])('refuses the tenant id %p', (tenantId, message) => {
    expect(refusal(() => entraIssuers(loose({ tenantId, audience: API_CLIENT }))).message).toMatch(message);
  });

  it.each([
    [{ audience: API_CLIENT }, /give tenantId, or tenants/],
    [{ tenantId: TENANT_A, tenants: [TENANT_B], audience: API_CLIENT }, /give tenantId or tenants, not both/],
    [{ tenants: [], audience: API_CLIENT }, /tenants must be a non-empty array of tenant IDs/],
    [{ tenants: TENANT_A, audience: API_CLIENT }, /tenants must be a non-empty array/],
    [{ tenantId: TENANT_A }, /audience is required: the application \(client\) ID of your API/],
    [{ tenantId: TENANT_A, audience: API_CLIENT, versions: [] }, /versions must be a non-empty array of 1 and\/or 2/],
    [{ tenantId: TENANT_A, audience: API_CLIENT, versions: [3] }, /versions must be/],
    [{ tenantId: TENANT_A, audience: API_CLIENT, versions: ['2'] }, /versions must be/],
    [{ tenantId: TENANT_A, audience: API_CLIENT, versions: 2 }, /versions must be/],
    [{ tenantId: TENANT_A, audience: API_CLIENT, appId: 'my-app' }, /appId must be the application \(client\) ID, a GUID/],
  ])('refuses %p', (input, message) => {
    expect(refusal(() => entraIssuers(loose(input))).message).toMatch(message);
  });

  it('reports every bad tenant of the list', () => {
    const error = refusal(() => entraIssuers(loose({ tenants: ['common', TENANT_A, 'contoso.com', 7], audience: API_CLIENT })));
    expect(error.problems).toHaveLength(3);
  });
});

describe('keycloakIssuer', () => {
  it('builds the realm issuer and its certs endpoint', () => {
    expect(keycloakIssuer({ baseUrl: 'https://kc.example.com', realm: 'acme', audience: 'orders-api' })).toEqual({
      issuer: 'https://kc.example.com/realms/acme',
      jwksUri: 'https://kc.example.com/realms/acme/protocol/openid-connect/certs',
      grantClaims: KEYCLOAK_GRANTS,
      audience: 'orders-api',
    });
  });

  it.each([
    ['https://kc.example.com/', 'https://kc.example.com/realms/acme'],
    // Keycloak before 17 (WildFly) served everything under /auth
    ['https://kc.example.com/auth', 'https://kc.example.com/auth/realms/acme'],
    ['https://kc.example.com/auth/', 'https://kc.example.com/auth/realms/acme'],
    ['https://KC.example.com:8443/id/', 'https://kc.example.com:8443/id/realms/acme'],
    ['https://kc.example.com:443', 'https://kc.example.com/realms/acme'],
    ['http://localhost:8080', 'http://localhost:8080/realms/acme'],
    ['http://127.0.0.1:8080/auth', 'http://127.0.0.1:8080/auth/realms/acme'],
  ])('takes the base URL %s as given, without its trailing slash', (baseUrl, issuer) => {
    const preset = keycloakIssuer({ baseUrl, realm: 'acme', audience: 'orders-api' });
    expect(preset.issuer).toBe(issuer);
    expect(preset.jwksUri).toBe(`${issuer}/protocol/openid-connect/certs`);
  });

  it.each([
    ['my realm', 'my%20realm'],
    ['a/b', 'a%2Fb'],
    ['a?b#c', 'a%3Fb%23c'],
    ['100%', '100%25'],
    ['équipe', '%C3%A9quipe'],
    // RFC 3986 allows these in a path segment, and Keycloak's URI builder leaves them as they are
    ["a+b:c@d!$&'()*,;=", "a+b:c@d!$&'()*,;="],
  ])('percent-encodes the realm %p into one path segment', (realm, encoded) => {
    expect(keycloakIssuer({ baseUrl: 'https://kc.example.com', realm, audience: 'a' }).issuer).toBe(`https://kc.example.com/realms/${encoded}`);
  });

  it.each([
    [{ baseUrl: 'http://kc.example.com', realm: 'acme' }, /baseUrl must use https \(http only on a loopback host\)/],
    [{ baseUrl: 'kc.example.com', realm: 'acme' }, /baseUrl must be an absolute URL such as "https:\/\/kc\.example\.com"/],
    [{ baseUrl: 'https://kc.example.com/realms/acme', realm: 'acme' }, /baseUrl must stop before \/realms\/: pass the realm as realm/],
    [{ baseUrl: 'https://kc.example.com/auth/realms/acme/', realm: 'acme' }, /baseUrl must stop before \/realms\//],
    [{ baseUrl: 'https://kc.example.com?x=1', realm: 'acme' }, /baseUrl must have no query or fragment/],
    [{ baseUrl: 'https://kc.example.com#x', realm: 'acme' }, /baseUrl must have no query or fragment/],
    [{ baseUrl: 'https://admin:pw@kc.example.com', realm: 'acme' }, /baseUrl must not carry credentials/],
    [{ baseUrl: 42, realm: 'acme' }, /baseUrl is required/],
    [{ baseUrl: 'https://kc.example.com', realm: '' }, /realm is required: the realm name/],
    [{ baseUrl: 'https://kc.example.com', realm: '.' }, /realm "\." would be read as a relative path/],
    [{ baseUrl: 'https://kc.example.com', realm: '..' }, /realm "\.\." would be read as a relative path/],
    [{ baseUrl: 'https://kc.example.com', realm: ['acme'] }, /realm is required/],
  ])('refuses %p', (input, message) => {
    expect(refusal(() => keycloakIssuer(loose({ audience: 'a', ...input }))).message).toMatch(message);
  });

  it('masks the credentials of a refused base URL', () => {
    expect(refusal(() => keycloakIssuer(loose({ baseUrl: 'https://admin:hunter2@kc.example.com', realm: 'acme', audience: 'a' }))).message).not.toContain('hunter2');
  });

  it('needs an audience: Keycloak puts the API in aud only through an audience mapper', () => {
    expect(refusal(() => keycloakIssuer(loose({ baseUrl: 'https://kc.example.com', realm: 'acme' }))).message).toMatch(/audience is required: .*Audience mapper/);
  });
});

describe('cognitoIssuer', () => {
  const POOL = 'eu-west-1_AbCdEf123';
  const ISSUER = `https://cognito-idp.eu-west-1.amazonaws.com/${POOL}`;

  it('checks access tokens by client_id and token_use, since they carry no aud', () => {
    expect(cognitoIssuer({ region: 'eu-west-1', userPoolId: POOL, clientId: '1example23456789' })).toEqual({
      issuer: ISSUER,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      grantClaims: COGNITO_GRANTS,
      audience: '1example23456789',
      audienceClaim: 'client_id',
      requiredClaimValues: { token_use: 'access' },
    });
  });

  it('takes the region from the user pool id when it is not given, and accepts several app clients', () => {
    expect(cognitoIssuer({ userPoolId: POOL, clientIds: ['client1', 'client2'] })).toEqual({
      issuer: ISSUER,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      grantClaims: COGNITO_GRANTS,
      audience: ['client1', 'client2'],
      audienceClaim: 'client_id',
      requiredClaimValues: { token_use: 'access' },
    });
  });

  it('checks ID tokens by aud and token_use "id"', () => {
    expect(cognitoIssuer({ userPoolId: POOL, clientId: 'client1', tokenUse: 'id' })).toEqual({
      issuer: ISSUER,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      grantClaims: COGNITO_GRANTS,
      audience: 'client1',
      audienceClaim: 'aud',
      requiredClaimValues: { token_use: 'id' },
    });
  });

  it('builds the updated (multi-Region) issuer on issuer-cognito-idp', () => {
    const preset = cognitoIssuer({ userPoolId: POOL, clientId: 'client1', issuerFormat: 'updated' });
    expect(preset.issuer).toBe(`https://issuer-cognito-idp.eu-west-1.amazonaws.com/${POOL}`);
    expect(preset.jwksUri).toBe(`https://issuer-cognito-idp.eu-west-1.amazonaws.com/${POOL}/.well-known/jwks.json`);
  });

  it.each(['us-gov-west-1_abc123', 'ap-southeast-2_Z9y8X7w6V', 'cn-north-1_abc'])('accepts the user pool id %s', (userPoolId) => {
    expect(cognitoIssuer({ userPoolId, clientId: 'c' }).issuer).toBe(`https://cognito-idp.${userPoolId.split('_')[0]}.amazonaws.com/${userPoolId}`);
  });

  it('merges the caller\'s required claim values with token_use', () => {
    expect(cognitoIssuer({ userPoolId: POOL, clientId: 'c', requiredClaimValues: { 'custom:tenant': 'acme' } }).requiredClaimValues).toEqual({
      'custom:tenant': 'acme',
      token_use: 'access',
    });
    expect(refusal(() => cognitoIssuer({ userPoolId: POOL, clientId: 'c', requiredClaimValues: { token_use: 'id' } })).message).toMatch(
      /requiredClaimValues\.token_use is set by the preset to "access"; use tokenUse: 'id' to accept ID tokens/,
    );
  });

  it('keeps a "__proto__" claim name as a claim, not as the prototype', () => {
    const requiredClaimValues = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    const preset = cognitoIssuer({ userPoolId: POOL, clientId: 'c', requiredClaimValues });
    expect(Object.getPrototypeOf(preset.requiredClaimValues)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(preset.requiredClaimValues, '__proto__')).toBe(true);
  });

  it.each([
    [{ userPoolId: 'eu-west-1-AbC', clientId: 'c' }, /userPoolId must look like "eu-west-1_AbCdEf123" \(\{region\}_\{id\}\)/],
    [{ userPoolId: 'AbCdEf123', clientId: 'c' }, /userPoolId must look like/],
    [{ userPoolId: 'eu-west-1_AbC/../x', clientId: 'c' }, /userPoolId must look like/],
    [{ userPoolId: undefined, clientId: 'c' }, /userPoolId must look like/],
    [{ region: 'us-east-1', userPoolId: POOL, clientId: 'c' }, /userPoolId "eu-west-1_AbCdEf123" belongs to region eu-west-1, not us-east-1/],
    [{ region: 'EU-WEST-1', userPoolId: POOL, clientId: 'c' }, /region must look like "eu-west-1"/],
    [{ userPoolId: POOL }, /give clientId \(or clientIds\): the app client ID/],
    [{ userPoolId: POOL, clientId: 'c', clientIds: ['d'] }, /give clientId or clientIds, not both/],
    [{ userPoolId: POOL, clientIds: [] }, /clientIds must be a non-empty array of app client IDs/],
    [{ userPoolId: POOL, clientId: 'has space' }, /clientId must be an app client ID/],
    [{ userPoolId: POOL, clientId: 'c', tokenUse: 'refresh' }, /tokenUse must be 'access' or 'id'/],
    [{ userPoolId: POOL, clientId: 'c', issuerFormat: 'global' }, /issuerFormat must be 'original' or 'updated'/],
    [{ userPoolId: POOL, clientId: 'c', requiredClaimValues: ['x'] }, /requiredClaimValues must be an object of claim names to string values/],
    [{ userPoolId: POOL, clientId: 'c', requiredClaimValues: { level: 3 } }, /requiredClaimValues must be an object of claim names to string values/],
    [{ userPoolId: POOL, clientId: 'c', audience: 'c' }, /unknown option "audience" \(a preset builds it\)/],
  ])('refuses %p', (input, message) => {
    expect(refusal(() => cognitoIssuer(loose(input))).message).toMatch(message);
  });
});

describe('every preset, on any input', () => {
  const presets: [string, (input: never) => unknown][] = [
    ['auth0Issuer', auth0Issuer],
    ['oktaIssuer', oktaIssuer],
    ['entraIssuers', entraIssuers],
    ['keycloakIssuer', keycloakIssuer],
    ['cognitoIssuer', cognitoIssuer],
  ];
  const field = fc.oneof(fc.anything(), fc.string(), fc.array(fc.string()), fc.constantFrom('tenant.auth0.com', 'https://kc.example.com', TENANT_A, 'eu-west-1_abc', null));
  const input = fc.oneof(
    fc.anything(),
    fc.record(
      {
        domain: field, audience: field, authorizationServerId: field, tenantId: field, tenants: field, versions: field, appId: field,
        baseUrl: field, realm: field, userPoolId: field, region: field, clientId: field, clientIds: field, tokenUse: field,
        issuerFormat: field, requiredClaimValues: field, algorithms: field,
      },
      { requiredKeys: [] },
    ),
  );

  it.each(presets)('%s returns issuer options or throws a JwksOptionsError, never anything else', (_name, preset) => {
    fc.assert(
      fc.property(input, (value) => {
        try {
          const built = preset(value as never);
          for (const issuer of [built].flat() as { issuer: unknown; jwksUri: unknown }[]) {
            expect(typeof issuer.issuer).toBe('string');
            expect(new URL(issuer.jwksUri as string).protocol).toMatch(/^https?:$/);
          }
        } catch (error) {
          if (!(error instanceof JwksOptionsError)) throw error;
        }
      }),
      { numRuns: 300 },
    );
  });
});
