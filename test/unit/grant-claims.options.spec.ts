import { JWKS_DEFAULT_GRANT_CLAIMS, JwksOptionsError, keycloakIssuer, auth0Issuer, entraIssuers, type JwksAuthModuleOptions } from '../../lib';
import { resolveIssuerOptions, resolveJwksOptions } from '../../lib/options/options.validator';

/* `grantClaims`: where each issuer keeps scopes, permissions and roles, validated strictly. */

const A = { issuer: 'https://a.test/', jwksUri: 'https://a.test/jwks', audience: 'api-a' };

function problemsOf(input: unknown): string[] {
  try {
    resolveJwksOptions(input as JwksAuthModuleOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(JwksOptionsError);
    return (err as JwksOptionsError).problems;
  }
  throw new Error('the options were accepted');
}

describe('grantClaims options', () => {
  it('defaults every kind, and keeps the default of a kind left out', () => {
    expect(resolveJwksOptions(A).issuers[0].grantClaims).toBe(JWKS_DEFAULT_GRANT_CLAIMS);
    const resolved = resolveJwksOptions({ ...A, grantClaims: { roles: ['groups', ['app', 'roles']] } }).issuers[0].grantClaims;
    expect(resolved).toEqual({ ...JWKS_DEFAULT_GRANT_CLAIMS, roles: [['groups'], ['app', 'roles']] });
    expect(Object.isFrozen(resolved) && Object.isFrozen(resolved.roles)).toBe(true);
  });

  it('takes a claim name literally (dots and colons are part of it) and keeps a function as given', () => {
    const mapper = () => ['x'];
    const resolved = resolveJwksOptions({ ...A, grantClaims: { scopes: 'https://example.com/scopes', permissions: mapper, roles: [] } }).issuers[0].grantClaims;
    expect(resolved).toEqual({ scopes: [['https://example.com/scopes']], permissions: mapper, roles: [] });
  });

  it('refuses unknown kinds with a did-you-mean, on the flat form and in issuers[]', () => {
    expect(problemsOf({ ...A, grantClaims: { role: 'roles' } })).toEqual(['unknown option "grantClaims.role" (did you mean "grantClaims.roles"?)']);
    expect(problemsOf({ issuers: [{ ...A, grantClaims: { scope: 'scp' } }] })).toEqual(['unknown option "issuers[0].grantClaims.scope" (did you mean "issuers[0].grantClaims.scopes"?)']);
  });

  it('refuses prototype member names, empty names and wrong types anywhere in a path', () => {
    const problems = problemsOf({ ...A, grantClaims: { scopes: '__proto__', permissions: [['a', 'constructor'], '', 3, []], roles: 42 } });
    expect(problems).toHaveLength(6);
    expect(problems[0]).toMatch(/^grantClaims\.scopes must be a claim name .*got "__proto__"/);
    expect(problems[1]).toMatch(/^grantClaims\.permissions\[0\] .*got \["a","constructor"\]/);
    expect(problems[2]).toMatch(/^grantClaims\.permissions\[1\] /);
    expect(problems[3]).toMatch(/^grantClaims\.permissions\[2\] /);
    expect(problems[4]).toMatch(/^grantClaims\.permissions\[3\] .*got \[\]/);
    expect(problems[5]).toMatch(/^grantClaims\.roles must be a claim name, an array .*got 42/);
    expect(problemsOf({ ...A, grantClaims: ['scp'] })[0]).toMatch(/^grantClaims must be an object/);
  });

  it('is a per-issuer option: not shared at the top level next to issuers, validated in addIssuer()', () => {
    expect(problemsOf({ issuers: [A], grantClaims: { roles: 'roles' } })).toEqual([
      'grantClaims describes one issuer: with issuers, set it on each issuer that needs it',
    ]);
    const module = resolveJwksOptions(A);
    expect(() => resolveIssuerOptions({ issuer: 'https://b.test/', jwksUri: 'https://b.test/jwks', grantClaims: { roles: [['prototype']] } }, module)).toThrow(
      /grantClaims\.roles\[0\]/,
    );
  });
});

describe('presets set their identity provider’s grant claims', () => {
  it('keycloakIssuer reads realm roles, and the client roles of clientId when given', () => {
    const base = { baseUrl: 'https://kc.example.com', realm: 'acme', audience: 'orders-api' };
    expect(keycloakIssuer(base).grantClaims).toEqual({ scopes: 'scope', permissions: [], roles: [['realm_access', 'roles']] });
    expect(keycloakIssuer({ ...base, clientId: 'orders-api' }).grantClaims?.roles).toEqual([['realm_access', 'roles'], ['resource_access', 'orders-api', 'roles']]);
    expect(() => keycloakIssuer({ ...base, clientId: '__proto__' })).toThrow(/keycloakIssuer\(\): clientId must be/);
  });

  it('a grantClaims given to a preset replaces only the kinds it names', () => {
    const preset = auth0Issuer({ domain: 'acme.auth0.com', audience: 'api', grantClaims: { roles: 'https://acme.example/roles' } });
    expect(preset.grantClaims).toEqual({ scopes: 'scope', permissions: 'permissions', roles: 'https://acme.example/roles' });
    expect(() => auth0Issuer({ domain: 'acme.auth0.com', audience: 'api', grantClaims: loose('roles') })).toThrow(/grantClaims must be an object/);
  });

  it('entraIssuers gives each issuer its own copy', () => {
    const [v1, v2] = entraIssuers({ tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', audience: 'x', versions: [1, 2] });
    expect(v1.grantClaims).toEqual({ scopes: 'scp', permissions: [], roles: 'roles' });
    expect(v1.grantClaims).not.toBe(v2.grantClaims);
  });
});

function loose<T>(value: unknown): T {
  return value as T;
}
