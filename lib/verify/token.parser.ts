import { AlgorithmNotAllowedError, TokenMalformedError } from '../errors/jwks.errors';

/** A compact JWS split and checked, before any key lookup or crypto. */
export interface ParsedToken {
  readonly alg: string;
  readonly kid: string | undefined;
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Record<string, unknown>;
  /** `base64url(header) + "." + base64url(payload)`: the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
// The last character of a base64url string whose length is 2 or 3 mod 4 must leave its unused
// low bits zero; anything else is a second spelling of the same bytes (Node decodes it silently).
const CANONICAL_LAST_2 = /[AQgw]$/;
const CANONICAL_LAST_3 = /[AEIMQUYcgkosw048]$/;
const SAFE_KID = /^[\x21-\x7e]{1,256}$/;
/** Header parameters whose presence we refuse or never act on. `crit` names extensions we do not implement. */
const REFUSED_HEADER_PARAMS = ['crit'];

function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  const rest = segment.length % 4;
  if (rest === 1) return false;
  if (rest === 2) return CANONICAL_LAST_2.test(segment);
  if (rest === 3) return CANONICAL_LAST_3.test(segment);
  return true;
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new TokenMalformedError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenMalformedError(`${what} is not a JSON object`);
  }
  // An own "__proto__" key would pollute any object the claims are later assigned into.
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) {
    throw new TokenMalformedError(`${what} has a "__proto__" member`);
  }
  return value as Record<string, unknown>;
}

/**
 * The cheap checks, in order of cost: size, three segments, strict base64url, header JSON object,
 * `alg` in the allowlist, `kid` short and printable, no `crit`; then the payload JSON object.
 * Embedded keys (`jwk`, `jku`, `x5u`, `x5c`) are never read.
 * @throws TokenMalformedError | AlgorithmNotAllowedError
 */
export function parseToken(token: string, maxBytes: number, allowed: ReadonlySet<string>): ParsedToken {
  if (token.length > maxBytes) throw new TokenMalformedError(`token longer than ${maxBytes} bytes`);
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) !== -1) {
    throw new TokenMalformedError('token is not three dot-separated segments');
  }
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);
  if (!isCanonicalBase64url(h) || !isCanonicalBase64url(p) || !isCanonicalBase64url(s)) {
    throw new TokenMalformedError('token segment is not canonical base64url');
  }

  const header = decodeJsonObject(h, 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !allowed.has(alg)) {
    throw new AlgorithmNotAllowedError('token alg is not in the allowlist');
  }
  const kid = header.kid;
  if (kid !== undefined && (typeof kid !== 'string' || !SAFE_KID.test(kid))) {
    throw new TokenMalformedError('token kid is not a short printable string');
  }
  for (const param of REFUSED_HEADER_PARAMS) {
    if (param in header) throw new TokenMalformedError(`token header has "${param}"`);
  }

  const payload = decodeJsonObject(p, 'payload');
  return {
    alg,
    kid,
    header,
    payload,
    signingInput: token.slice(0, second),
    signature: Buffer.from(s, 'base64url'),
  };
}
