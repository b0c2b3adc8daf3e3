import { ExtractJwt } from 'passport-jwt';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { BASE_OPTIONS, optionProblems } from '../fixtures/option-problems';

const base = BASE_OPTIONS;
const problems = optionProblems;

describe('the token, mapUser and userProperty options', () => {
  it('resolve: the default stays null, header names are lower-cased, scheme defaults by header', () => {
    expect(resolveJwksOptions(base)).toMatchObject({ token: null, mapUser: null, userProperty: null });
    expect(resolveJwksOptions({ ...base, token: { from: 'header' } }).token).toBeNull();
    expect(resolveJwksOptions({ ...base, token: { from: 'header', name: 'Authorization', scheme: 'Bearer' } }).token).toBeNull();
    expect(resolveJwksOptions({ ...base, token: { from: 'header', name: 'X-Api-Token' } }).token).toEqual({ from: 'header', name: 'x-api-token', scheme: null });
    expect(resolveJwksOptions({ ...base, token: { from: 'header', name: 'authorization', scheme: null } }).token).toEqual({ from: 'header', name: 'authorization', scheme: null });
    expect(resolveJwksOptions({ ...base, token: { from: 'cookie', name: '__Host-at' } }).token).toEqual({ from: 'cookie', name: '__Host-at' });
    const extractor = ExtractJwt.fromUrlQueryParameter('t');
    expect(resolveJwksOptions({ ...base, token: extractor }).token).toEqual({ from: 'function', extract: extractor });
    const mapUser = (): object => ({});
    expect(resolveJwksOptions({ ...base, mapUser, userProperty: 'account' })).toMatchObject({ mapUser, userProperty: 'account' });
  });

  it.each([
    [{ token: 'cookie' }, /^token must be \{ from: 'header', name\?, scheme\? \}, \{ from: 'cookie', name \}.* got "cookie"$/],
    [{ token: { from: 'body', name: 'x' } }, /^token\.from must be "header", "cookie" or "query", got "body"$/],
    [{ token: { from: 'cookie' } }, /^token\.name is required for \{ from: 'cookie' \}: a cookie name such as "access_token".*got undefined$/],
    [{ token: { from: 'cookie', name: 'a;b' } }, /^token\.name is required for \{ from: 'cookie' \}.*got "a;b"$/],
    [{ token: { from: 'query', name: 'a&b' } }, /^token\.name is required for \{ from: 'query' \}: a query parameter name.*got "a&b"$/],
    [{ token: { from: 'query', name: 'x'.repeat(300) } }, /^token\.name is required for \{ from: 'query' \}.*at most 256/],
    [{ token: { from: 'header', name: 'x api' } }, /^token\.name must be a header name such as "x-api-token".*got "x api"$/],
    [{ token: { from: 'header', scheme: 'bearer' } }, /^token\.scheme must be "Bearer" \(read "Bearer <token>"\) or null \(the whole header value\), got "bearer"$/],
    [{ token: { from: 'cookie', name: 'at', scheme: 'Bearer' } }, /^token\.scheme applies to \{ from: 'header' \} only, not to \{ from: 'cookie' \}$/],
    [{ token: { from: 'header', nmae: 'x' } }, /^unknown option "token\.nmae" \(did you mean "token\.name"\?\)$/],
    [{ mapUser: { id: 1 } }, /^mapUser must be a function \(claims, context\) => user, got \{"id":1\}$/],
    [{ mapuser: () => null }, /^unknown option "mapuser" \(did you mean "mapUser"\?\)$/],
    [{ userProperty: '__proto__' }, /^userProperty must be a property name such as "user" or "account".*got "__proto__"$/],
    [{ userProperty: 'toString' }, /^userProperty must be a property name/],
    [{ userProperty: '' }, /^userProperty must be a property name/],
  ])('refuses %j with a clear message', (extra, message) => {
    const listed = problems(extra);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatch(message);
  });
});
