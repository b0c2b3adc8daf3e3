import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import { describeValue, isPlainObject, unknownKeys, syncExtractor } from '../options/option.checks.js';
import type { ResolvedMicroserviceOptions, ResolvedMicroserviceTokenSource } from './rpc-token.source.js';

const MICROSERVICE_KEYS = ['token'] as const;
const TOKEN_KEYS = ['from', 'name', 'path', 'scheme'] as const;
/** Metadata names: RFC 9110 tokens, which gRPC, NATS, Kafka, AMQP and MQTT keys all accept. */
const NAME_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * Prototype members, refused as a payload step (a walk up a prototype) and as a metadata name,
 * as `websocket` and `subscriptions` refuse them: no transport's metadata means them.
 */
const FORBIDDEN_STEPS: readonly string[] = ['__proto__', 'constructor', 'prototype'];
const SHAPE = `{ from: 'metadata', name?, scheme? }, { from: 'payload', path, scheme? } or a function (data, context) => string | null`;

/** The default scheme by the name read: `Bearer` for an `authorization` entry, the whole value otherwise. */
function schemeOf(problems: string[], scheme: unknown, last: string): 'Bearer' | null {
  if (scheme === undefined) return last.toLowerCase() === 'authorization' ? 'Bearer' : null;
  if (scheme !== 'Bearer' && scheme !== null) {
    problems.push(`microservice.token.scheme must be "Bearer" (read "Bearer <token>") or null (the whole value), got ${describeValue(scheme)}`);
    return null;
  }
  return scheme;
}

function pathOption(problems: string[], path: unknown): readonly string[] | null {
  const max = JWKS_DEFAULTS.maxPayloadPathSteps;
  const steps = typeof path === 'string' ? path.split('.') : Array.isArray(path) ? (path as unknown[]) : null;
  const what = `a property path such as "headers.authorization" or ["auth", "token"] (1 to ${max} steps, each an own property name, not __proto__, constructor or prototype)`;
  if (steps === null || steps.length === 0 || steps.length > max) {
    problems.push(`microservice.token.path is required for { from: 'payload' }: ${what}, got ${describeValue(path)}`);
    return null;
  }
  for (let i = 0; i < steps.length; i++) {
    const step: unknown = steps[i];
    if (typeof step !== 'string' || step === '' || step.length > JWKS_DEFAULTS.maxTokenSourceNameChars || (Array.isArray(path) && step.includes('.')) || FORBIDDEN_STEPS.includes(step)) {
      problems.push(`microservice.token.path must be ${what}, got ${describeValue(path)}`);
      return null;
    }
  }
  return Object.freeze([...(steps as string[])]);
}

function tokenOption(problems: string[], value: unknown): ResolvedMicroserviceTokenSource | null {
  if (value === undefined) return null;
  if (typeof value === 'function') {
    const extract = syncExtractor(problems, 'microservice.token', value as (data: unknown) => string | null);
    return extract === null ? null : Object.freeze({ from: 'function', extract });
  }
  if (!isPlainObject(value)) {
    problems.push(`microservice.token must be ${SHAPE}, got ${describeValue(value)}`);
    return null;
  }
  const before = problems.length;
  unknownKeys(problems, 'microservice.token.', value, TOKEN_KEYS);
  const { from, name, path, scheme } = value;
  if (from === 'metadata') {
    const max = JWKS_DEFAULTS.maxTokenSourceNameChars;
    if (path !== undefined) problems.push(`microservice.token.path applies to { from: 'payload' } only, not to { from: 'metadata' }`);
    if (name !== undefined && !(typeof name === 'string' && name.length <= max && NAME_CHARS.test(name) && !FORBIDDEN_STEPS.includes(name.toLowerCase()))) {
      problems.push(`microservice.token.name must be a metadata name such as "x-api-token" (letters, digits and !#$%&'*+.^_\`|~-, at most ${max}, not __proto__, constructor or prototype), got ${describeValue(name)}`);
    }
    const entry = typeof name === 'string' ? name.toLowerCase() : 'authorization';
    const resolvedScheme = schemeOf(problems, scheme, entry);
    if (problems.length > before) return null;
    return Object.freeze({ from, name: entry, scheme: resolvedScheme });
  }
  if (from === 'payload') {
    if (name !== undefined) problems.push(`microservice.token.name applies to { from: 'metadata' } only; { from: 'payload' } takes a path`);
    const steps = pathOption(problems, path);
    const resolvedScheme = schemeOf(problems, scheme, steps?.[steps.length - 1] ?? '');
    if (problems.length > before || steps === null) return null;
    return Object.freeze({ from, path: steps, scheme: resolvedScheme });
  }
  problems.push(`microservice.token.from must be "metadata" or "payload", got ${describeValue(from)}`);
  return null;
}

/**
 * The `microservice` option: how microservice handlers find the token. Problems are pushed onto
 * `problems`, reported together with the other options' in one `JwksOptionsError`.
 */
export function resolveMicroserviceOptions(problems: string[], value: unknown): ResolvedMicroserviceOptions {
  if (value === undefined) return Object.freeze({ token: null });
  if (!isPlainObject(value)) {
    problems.push(`microservice must be an object such as { token: { from: 'metadata' } }, got ${describeValue(value)}`);
    return Object.freeze({ token: null });
  }
  unknownKeys(problems, 'microservice.', value, MICROSERVICE_KEYS);
  return Object.freeze({ token: tokenOption(problems, value.token) });
}
