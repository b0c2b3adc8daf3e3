import { JwksOptionsError } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';

const base = { issuer: 'https://tenant.auth0.com/', jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json', audience: 'https://api' };

/** The problems a startup error lists for these options. */
function problems(microservice: unknown): string[] {
  try {
    resolveJwksOptions({ ...base, microservice } as never);
  } catch (err) {
    expect(err).toBeInstanceOf(JwksOptionsError);
    return (err as JwksOptionsError).problems;
  }
  throw new Error('the options were accepted');
}
const resolved = (microservice: unknown) => resolveJwksOptions({ ...base, microservice } as never).microservice.token;

describe('the microservice option', () => {
  it('resolves: null by default, metadata names lower-cased, paths split, scheme by the name read', () => {
    expect(resolveJwksOptions(base).microservice).toEqual({ token: null });
    expect(resolved({})).toBeNull();
    expect(resolved({ token: { from: 'metadata' } })).toEqual({ from: 'metadata', name: 'authorization', scheme: 'Bearer' });
    expect(resolved({ token: { from: 'metadata', name: 'X-Token' } })).toEqual({ from: 'metadata', name: 'x-token', scheme: null });
    expect(resolved({ token: { from: 'metadata', name: 'Authorization', scheme: null } })).toEqual({ from: 'metadata', name: 'authorization', scheme: null });
    expect(resolved({ token: { from: 'payload', path: 'headers.authorization' } })).toEqual({ from: 'payload', path: ['headers', 'authorization'], scheme: 'Bearer' });
    expect(resolved({ token: { from: 'payload', path: ['auth', 'jwt'] } })).toEqual({ from: 'payload', path: ['auth', 'jwt'], scheme: null });
    expect(resolved({ token: { from: 'payload', path: 'jwt', scheme: 'Bearer' } })).toEqual({ from: 'payload', path: ['jwt'], scheme: 'Bearer' });
    const extract = (data: { jwt?: string }) => data.jwt;
    expect(resolved({ token: extract })).toEqual({ from: 'function', extract });
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'metadata', /^microservice must be an object such as \{ token: \{ from: 'metadata' \} \}, got "metadata"$/],
    ['a misspelt key', { tokn: { from: 'metadata' } }, /^unknown option "microservice\.tokn" \(did you mean "microservice\.token"\?\)$/],
    ['a token that is a string', { token: 'authorization' }, /^microservice\.token must be \{ from: 'metadata', name\?, scheme\? \}, \{ from: 'payload', path, scheme\? \} or a function/],
    ['an unknown from', { token: { from: 'header' } }, /^microservice\.token\.from must be "metadata" or "payload", got "header"$/],
    ['a misspelt token key', { token: { from: 'metadata', nmae: 'x' } }, /^unknown option "microservice\.token\.nmae" \(did you mean "microservice\.token\.name"\?\)$/],
    ['a payload without path', { token: { from: 'payload' } }, /^microservice\.token\.path is required for \{ from: 'payload' \}: a property path such as "headers\.authorization"/],
    ['a __proto__ step', { token: { from: 'payload', path: '__proto__.token' } }, /^microservice\.token\.path must be a property path/],
    ['a constructor step', { token: { from: 'payload', path: ['constructor', 'prototype'] } }, /^microservice\.token\.path must be a property path/],
    ['an empty step', { token: { from: 'payload', path: 'headers..authorization' } }, /^microservice\.token\.path must be a property path/],
    ['a dotted array step', { token: { from: 'payload', path: ['a.b'] } }, /^microservice\.token\.path must be a property path/],
    ['a non-string step', { token: { from: 'payload', path: ['a', 1] } }, /^microservice\.token\.path must be a property path/],
    ['too many steps', { token: { from: 'payload', path: 'a.b.c.d.e.f.g.h.i' } }, /^microservice\.token\.path is required .*1 to 8 steps/],
    ['an empty path', { token: { from: 'payload', path: [] } }, /^microservice\.token\.path is required/],
    ['a name on payload', { token: { from: 'payload', path: 'a', name: 'b' } }, /^microservice\.token\.name applies to \{ from: 'metadata' \} only/],
    ['a path on metadata', { token: { from: 'metadata', path: 'a' } }, /^microservice\.token\.path applies to \{ from: 'payload' \} only/],
    ['a bad metadata name', { token: { from: 'metadata', name: 'x token' } }, /^microservice\.token\.name must be a metadata name such as "x-api-token"/],
    ['a long metadata name', { token: { from: 'metadata', name: 'x'.repeat(257) } }, /^microservice\.token\.name must be a metadata name/],
    ['a __proto__ metadata name', { token: { from: 'metadata', name: '__proto__' } }, /^microservice\.token\.name must be a metadata name such as "x-api-token" .*not __proto__, constructor or prototype.*got "__proto__"$/],
    ['a constructor metadata name', { token: { from: 'metadata', name: 'constructor' } }, /^microservice\.token\.name must be a metadata name .*not __proto__, constructor or prototype/],
    ['a prototype metadata name in another case', { token: { from: 'metadata', name: 'Prototype' } }, /^microservice\.token\.name must be a metadata name .*not __proto__, constructor or prototype/],
    ['a __PROTO__ metadata name', { token: { from: 'metadata', name: '__PROTO__' } }, /^microservice\.token\.name must be a metadata name .*not __proto__, constructor or prototype/],
    ['a prototype path', { token: { from: 'payload', path: 'prototype' } }, /^microservice\.token\.path must be a property path .*not __proto__, constructor or prototype/],
    ['a __proto__ array path', { token: { from: 'payload', path: ['__proto__'] } }, /^microservice\.token\.path must be a property path/],
    ['a constructor last step', { token: { from: 'payload', path: 'auth.constructor' } }, /^microservice\.token\.path must be a property path/],
    ['a bad scheme', { token: { from: 'metadata', scheme: 'bearer' } }, /^microservice\.token\.scheme must be "Bearer" \(read "Bearer <token>"\) or null \(the whole value\), got "bearer"$/],
  ])('refuses %s with a clear message', (_name, value, message) => {
    const found = problems(value);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('refuses microservice.token.name "__proto__" as websocket and subscriptions refuse prototype names (attack case)', () => {
    expect(() => resolveJwksOptions({ ...base, microservice: { token: { from: 'metadata', name: '__proto__' } } })).toThrow(JwksOptionsError);
  });

  it('reports its problems together with the other options’', () => {
    try {
      resolveJwksOptions({ ...base, clockToleranceSec: -1, microservice: { token: { from: 'nowhere' } } } as never);
      throw new Error('accepted');
    } catch (err) {
      expect((err as JwksOptionsError).problems).toEqual([expect.stringContaining('clockToleranceSec'), expect.stringContaining('microservice.token.from')]);
    }
  });
});
