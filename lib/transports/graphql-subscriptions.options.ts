import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import { describeValue, isPlainObject, unknownKeys, syncExtractor } from '../options/option.checks.js';
import { FORBIDDEN_CLAIM_SEGMENTS } from '../authorization/grant-claims.mapper.js';
import type { JwksConnectionParamsExtractor, ResolvedSubscriptionsOptions, ResolvedSubscriptionTokenSource } from './graphql-ws.token.js';

const SUBSCRIPTIONS_KEYS = ['token'];
const TOKEN_KEYS = ['from', 'name', 'scheme'];
const TOKEN_SHAPE = `{ from: 'connectionParams', name?, scheme? }, { from: 'upgradeRequest' } or a function (connectionParams, context) => string | null`;
const DEFAULT: ResolvedSubscriptionsOptions = Object.freeze({ token: null });



/**
 * The `subscriptions` option (GraphQL over graphql-ws): every mistake goes to `problems`, the
 * startup's `JwksOptionsError` lists them with the others.
 */
export function subscriptionsOption(problems: string[], value: unknown): ResolvedSubscriptionsOptions {
  if (value === undefined) return DEFAULT;
  if (!isPlainObject(value)) {
    problems.push(`subscriptions must be an object such as { token: { from: 'connectionParams', name: 'authToken' } }, got ${describeValue(value)}`);
    return DEFAULT;
  }
  unknownKeys(problems, 'subscriptions.', value, SUBSCRIPTIONS_KEYS);
  return Object.freeze({ token: tokenOption(problems, value.token) });
}

function tokenOption(problems: string[], value: unknown): ResolvedSubscriptionTokenSource | null {
  if (value === undefined) return null;
  if (typeof value === 'function') {
    const extract = syncExtractor(problems, 'subscriptions.token', value as JwksConnectionParamsExtractor);
    return extract === null ? null : Object.freeze({ from: 'function', extract });
  }
  if (!isPlainObject(value)) {
    problems.push(`subscriptions.token must be ${TOKEN_SHAPE}, got ${describeValue(value)}`);
    return null;
  }
  const before = problems.length;
  unknownKeys(problems, 'subscriptions.token.', value, TOKEN_KEYS);
  const { from, name, scheme } = value;
  if (from === 'upgradeRequest') {
    for (const key of ['name', 'scheme'] as const) {
      if (value[key] !== undefined) problems.push(`subscriptions.token.${key} applies to { from: 'connectionParams' } only; { from: 'upgradeRequest' } reads the request as the token option says`);
    }
    return problems.length > before ? null : Object.freeze({ from });
  }
  if (from !== 'connectionParams') {
    problems.push(`subscriptions.token.from must be "connectionParams" or "upgradeRequest", got ${describeValue(from)}`);
    return null;
  }
  const max = JWKS_DEFAULTS.maxTokenSourceNameChars;
  // Any JSON key is possible, but not an empty one or a prototype member (`__proto__` would read the prototype).
  if (name !== undefined && !(typeof name === 'string' && name !== '' && name.length <= max && !FORBIDDEN_CLAIM_SEGMENTS.has(name))) {
    problems.push(`subscriptions.token.name must be a connectionParams key such as "authToken" (not empty, at most ${max} characters, not a prototype member such as "__proto__"), got ${describeValue(name)}`);
  }
  if (scheme !== undefined && scheme !== 'Bearer' && scheme !== null) {
    problems.push(`subscriptions.token.scheme must be "Bearer" (read "Bearer <token>") or null (the whole value), got ${describeValue(scheme)}`);
  }
  if (problems.length > before) return null;
  const key = (name as string | undefined) ?? 'Authorization';
  const resolvedScheme = scheme === undefined ? (key.toLowerCase() === 'authorization' ? 'Bearer' : null) : (scheme as 'Bearer' | null);
  return Object.freeze({ from, name: key, scheme: resolvedScheme });
}
