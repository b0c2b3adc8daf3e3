import { resolveJwksOptions } from '../../lib/options/options.validator';
import { BASE_OPTIONS, optionProblems } from '../fixtures/option-problems';

const base = BASE_OPTIONS;
const problems = optionProblems;

describe('the websocket option', () => {
  it('resolves: the default is null, auth names default to "token", header names are lower-cased, scheme defaults by header', () => {
    expect(resolveJwksOptions(base).websocket).toEqual({ token: null });
    expect(resolveJwksOptions({ ...base, websocket: {} }).websocket).toEqual({ token: null });
    expect(resolveJwksOptions({ ...base, websocket: { token: { from: 'auth' } } }).websocket.token).toEqual({ from: 'auth', name: 'token' });
    expect(resolveJwksOptions({ ...base, websocket: { token: { from: 'auth', name: 'access-token' } } }).websocket.token).toEqual({ from: 'auth', name: 'access-token' });
    // Spelt out, the Authorization header is still explicit: on socket.io it means "not auth.token".
    expect(resolveJwksOptions({ ...base, websocket: { token: { from: 'header' } } }).websocket.token).toEqual({ from: 'header', name: 'authorization', scheme: 'Bearer' });
    expect(resolveJwksOptions({ ...base, websocket: { token: { from: 'header', name: 'X-Api-Token' } } }).websocket.token).toEqual({ from: 'header', name: 'x-api-token', scheme: null });
    expect(resolveJwksOptions({ ...base, websocket: { token: { from: 'query', name: 'access_token' } } }).websocket.token).toEqual({ from: 'query', name: 'access_token' });
    const extract = (): null => null;
    expect(resolveJwksOptions({ ...base, websocket: { token: extract } }).websocket.token).toEqual({ from: 'function', extract });
    expect(Object.isFrozen(resolveJwksOptions({ ...base, websocket: { token: { from: 'auth' } } }).websocket.token)).toBe(true);
  });

  it.each([
    [{ websocket: 'auth' }, /^websocket must be \{ token\? \}, got "auth"$/],
    [{ websocket: { tokens: {} } }, /^unknown option "websocket\.tokens" \(did you mean "websocket\.token"\?\)$/],
    [{ websocket: { token: 'auth' } }, /^websocket\.token must be \{ from: 'auth', name\? \}, \{ from: 'header', name\?, scheme\? \}, \{ from: 'query', name \} or a function \(client\) => string \| null, got "auth"$/],
    [{ websocket: { token: { from: 'cookie', name: 'at' } } }, /^websocket\.token\.from must be "auth", "header" or "query", got "cookie"$/],
    [{ websocket: { token: { from: 'auth', nam: 'jwt' } } }, /^unknown option "websocket\.token\.nam" \(did you mean "websocket\.token\.name"\?\)$/],
    [{ websocket: { token: { from: 'auth', name: 'toString' } } }, /^websocket\.token\.name must be a field name of socket\.io's handshake auth.*got "toString"$/],
    [{ websocket: { token: { from: 'auth', name: 'a b' } } }, /^websocket\.token\.name must be a field name.*got "a b"$/],
    [{ websocket: { token: { from: 'auth', name: 7 } } }, /^websocket\.token\.name must be a field name.*got 7$/],
    [{ websocket: { token: { from: 'auth', scheme: 'Bearer' } } }, /^websocket\.token\.scheme applies to \{ from: 'header' \} only, not to \{ from: 'auth' \}$/],
    [{ websocket: { token: { from: 'header', name: 'x api' } } }, /^websocket\.token\.name must be a header name such as "x-api-token".*got "x api"$/],
    [{ websocket: { token: { from: 'header', scheme: 'bearer' } } }, /^websocket\.token\.scheme must be "Bearer" \(read "Bearer <token>"\) or null \(the whole header value\), got "bearer"$/],
    [{ websocket: { token: { from: 'query' } } }, /^websocket\.token\.name is required for \{ from: 'query' \}: a query parameter name such as "access_token".*got undefined$/],
    [{ websocket: { token: { from: 'query', name: 'a&b' } } }, /^websocket\.token\.name is required for \{ from: 'query' \}.*got "a&b"$/],
    [{ websocket: { token: { from: 'query', name: 'x'.repeat(300) } } }, /^websocket\.token\.name is required for \{ from: 'query' \}.*at most 256/],
    [{ websockets: {} }, /^unknown option "websockets" \(did you mean "websocket"\?\)$/],
  ])('refuses %j with a clear message', (extra, message) => {
    const found = problems(extra);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });
});
