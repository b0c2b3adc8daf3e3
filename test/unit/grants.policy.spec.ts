import { satisfies, unmetRequirement, type GrantKind, type GrantRequirement } from '../../lib/authorization/grants.policy';
import { grantReader, NO_GRANTS } from '../../lib/authorization/grant-claims.mapper';
import { insufficientScopeChallenge } from '../../lib/authorization/grant.challenge';
import { JWKS_DEFAULT_GRANT_CLAIMS } from '../../lib/jwks-auth.constants';
import type { JwtClaims } from '../../lib';

const req = (kind: GrantKind, mode: 'all' | 'any', ...values: string[]): GrantRequirement => ({ kind, mode, values });
const held = (sets: Partial<Record<GrantKind, string[]>>) => (kind: GrantKind) => new Set(sets[kind] ?? []);
const claims = (extra: Record<string, unknown>): JwtClaims => ({ iss: 'https://idp.test/', sub: 'u', exp: 2e9, ...extra }) as JwtClaims;

describe('grant policy (pure)', () => {
  it('all-of holds only when every value is held', () => {
    expect(satisfies(req('scopes', 'all', 'a', 'b'), new Set(['a', 'b', 'c']))).toBe(true);
    expect(satisfies(req('scopes', 'all', 'a', 'b'), new Set(['a']))).toBe(false);
    expect(satisfies(req('scopes', 'all', 'a'), new Set())).toBe(false);
  });

  it('any-of holds when at least one value is held', () => {
    expect(satisfies(req('roles', 'any', 'a', 'b'), new Set(['b']))).toBe(true);
    expect(satisfies(req('roles', 'any', 'a', 'b'), new Set(['c']))).toBe(false);
  });

  it('every requirement must hold; the first unmet one is returned', () => {
    const scopes = req('scopes', 'all', 'read');
    const roles = req('roles', 'any', 'admin', 'ops');
    expect(unmetRequirement([scopes, roles], held({ scopes: ['read'], roles: ['ops'] }))).toBeUndefined();
    expect(unmetRequirement([scopes, roles], held({ scopes: ['read'], permissions: ['admin'] }))).toBe(roles);
    expect(unmetRequirement([scopes, roles], held({ roles: ['admin'] }))).toBe(scopes);
    expect(unmetRequirement([], held({}))).toBeUndefined();
  });

  it('kinds never stand in for each other', () => {
    expect(unmetRequirement([req('permissions', 'all', 'read')], held({ scopes: ['read'], roles: ['read'] }))).toBeDefined();
  });

  it('reads each kind at most once, and only the kinds required', () => {
    const asked: GrantKind[] = [];
    unmetRequirement([req('scopes', 'all', 'a'), req('scopes', 'any', 'a', 'b'), req('roles', 'all', 'x')], (kind) => {
      asked.push(kind);
      return new Set(['a', 'x']);
    });
    expect(asked).toEqual(['scopes', 'roles']);
  });
});

describe('grant claim reader', () => {
  const defaults = grantReader(JWKS_DEFAULT_GRANT_CLAIMS);

  it('reads scopes from a space-separated scope and from scp as a string or an array', () => {
    expect([...defaults.read('scopes', claims({ scope: 'read  write' }))]).toEqual(['read', 'write']);
    expect([...defaults.read('scopes', claims({ scp: 'user.read' }))]).toEqual(['user.read']);
    expect([...defaults.read('scopes', claims({ scp: ['a', 'b'] }))]).toEqual(['a', 'b']);
  });

  it('reads roles from roles, realm_access.roles and cognito:groups by default, and never splits a role', () => {
    expect([...defaults.read('roles', claims({ roles: ['Org Admin'], realm_access: { roles: ['r'] }, 'cognito:groups': ['g'] }))]).toEqual(['Org Admin', 'r', 'g']);
    expect([...defaults.read('roles', claims({ roles: 'Org Admin' }))]).toEqual(['Org Admin']);
  });

  it('ignores non-string entries and values of other types', () => {
    expect([...defaults.read('permissions', claims({ permissions: ['ok', 1, null, { x: 1 }, ['nested'], ''] }))]).toEqual(['ok']);
    expect([...defaults.read('permissions', claims({ permissions: { read: true } }))]).toEqual([]);
    expect([...defaults.read('scopes', claims({ scope: 42 }))]).toEqual([]);
  });

  it('never follows prototype members, nor inherited properties, on a claim path', () => {
    const reader = grantReader({ scopes: [], permissions: [], roles: [['realm_access', 'roles'], ['x', 'constructor', 'name']] });
    // JSON.parse makes "__proto__" an own key; an object inheriting `roles` is not holding it.
    const parsed = JSON.parse('{"iss":"i","realm_access":{"__proto__":{"roles":["admin"]}},"x":{}}') as JwtClaims;
    expect([...reader.read('roles', parsed)]).toEqual([]);
    const inherited = claims({ realm_access: Object.create({ roles: ['admin'] }) as object });
    expect([...reader.read('roles', inherited)]).toEqual([]);
    const viaProto = grantReader({ scopes: [], permissions: [], roles: [['__proto__', 'roles']] });
    expect([...viaProto.read('roles', parsed)]).toEqual([]);
  });

  it('walks plain objects only: an array in the middle of a path ends it', () => {
    const reader = grantReader({ scopes: [], permissions: [], roles: [['resource_access', '0', 'roles']] });
    expect([...reader.read('roles', claims({ resource_access: [{ roles: ['admin'] }] }))]).toEqual([]);
    expect([...reader.read('roles', claims({ resource_access: { '0': { roles: ['admin'] } } }))]).toEqual(['admin']);
  });

  it('a mapper that throws or returns no array grants nothing; one that returns strings grants those', () => {
    const throwing = grantReader({ scopes: () => { throw new Error('bug'); }, permissions: () => 'read' as unknown as string[], roles: (c) => [String(c.sub), 7 as unknown as string] });
    expect(throwing.read('scopes', claims({ scope: 'read' })).size).toBe(0);
    expect(throwing.read('permissions', claims({})).size).toBe(0);
    expect([...throwing.read('roles', claims({}))]).toEqual(['u']);
  });

  it('NO_GRANTS finds nothing whatever the claims say', () => {
    expect(NO_GRANTS.read('scopes', claims({ scope: 'read' })).size).toBe(0);
  });
});

describe('insufficient_scope challenge', () => {
  it('names scopes and permissions in scope, says when one is enough, and never names roles', () => {
    expect(insufficientScopeChallenge(req('scopes', 'all', 'a', 'b'))).toBe('Bearer error="insufficient_scope", scope="a b"');
    expect(insufficientScopeChallenge(req('permissions', 'any', 'a', 'b'))).toBe(
      'Bearer error="insufficient_scope", scope="a b", error_description="any one of the listed scopes is enough"',
    );
    expect(insufficientScopeChallenge(req('scopes', 'any', 'a'))).toBe('Bearer error="insufficient_scope", scope="a"');
    expect(insufficientScopeChallenge(req('roles', 'all', 'secret-admin'))).toBe('Bearer error="insufficient_scope", error_description="a required role is missing"');
  });
});
