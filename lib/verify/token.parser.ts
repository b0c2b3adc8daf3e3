import { AlgorithmNotAllowedError, TokenMalformedError } from '../errors/jwks.errors.js';
import { SAFE_KID } from './kid.js';

/** A JWS header that passed the cheap checks. */
export interface ParsedHeader {
  readonly alg: string;
  readonly kid: string | undefined;
  readonly header: Readonly<Record<string, unknown>>;
}

/** A compact JWS split and checked, before any key lookup or crypto. */
export interface ParsedJws extends ParsedHeader {
  /** The header segment, still base64url. */
  readonly headerSegment: string;
  /** The payload segment, still base64url. */
  readonly payloadSegment: string;
  /** `base64url(header) + "." + base64url(payload)`: the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
// The last character of a base64url string whose length is 2 or 3 mod 4 must leave its unused
// low bits zero; anything else is a second spelling of the same bytes (Node decodes it silently).
const CANONICAL_LAST_2 = /[AQgw]$/;
const CANONICAL_LAST_3 = /[AEIMQUYcgkosw048]$/;
/** `crit` names extensions the verifier must understand; we implement none, so any `crit` is refused. */
const REFUSED_HEADER_PARAMS = ['crit'];

function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  const rest = segment.length % 4;
  if (rest === 1) return false;
  if (rest === 2) return CANONICAL_LAST_2.test(segment);
  if (rest === 3) return CANONICAL_LAST_3.test(segment);
  return true;
}

/** Own `__proto__` keys anywhere would pollute any object the claims are later merged into. */
function hasProtoKey(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null || depth > 32) return false;
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  for (const v of Object.values(value)) if (hasProtoKey(v, depth + 1)) return true;
  return false;
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  const text = Buffer.from(segment, 'base64url').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TokenMalformedError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenMalformedError(`${what} is not a JSON object`);
  }
  // Walk the object only when its text could spell the key (directly or through \u escapes).
  if ((text.includes('__proto__') || text.includes('\\u')) && hasProtoKey(value)) {
    throw new TokenMalformedError(`${what} has a "__proto__" member`);
  }
  return value as Record<string, unknown>;
}

/**
 * The cheap checks, in order of cost: size, three segments, strict canonical base64url, header a
 * JSON object, `alg` in the allowlist, `kid` short and of safe characters, no `crit`. Embedded
 * keys (`jwk`, `jku`, `x5u`, `x5c`) are never read.
 * @throws TokenMalformedError | AlgorithmNotAllowedError
 */
export function parseJws(
  token: string,
  maxBytes: number,
  allowed: ReadonlySet<string>,
  knownHeaders?: ReadonlyMap<string, ParsedHeader>,
): ParsedJws {
  if (token.length > maxBytes) throw new TokenMalformedError(`token longer than ${maxBytes} bytes`);
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) !== -1) {
    throw new TokenMalformedError('token is not three dot-separated segments');
  }
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);
  // A header segment seen in an earlier genuine token was checked then, byte for byte the same.
  const known = knownHeaders?.get(h);
  if ((known === undefined && (h === '' || !isCanonicalBase64url(h))) || s === '' || !isCanonicalBase64url(p) || !isCanonicalBase64url(s)) {
    throw new TokenMalformedError('token segment is empty or not canonical base64url');
  }
  const parsed = known ?? parseHeader(h, allowed);
  return {
    alg: parsed.alg,
    kid: parsed.kid,
    header: parsed.header,
    headerSegment: h,
    payloadSegment: p,
    signingInput: token.slice(0, second),
    signature: Buffer.from(s, 'base64url'),
  };
}

function parseHeader(h: string, allowed: ReadonlySet<string>): ParsedHeader {
  const header = decodeJsonObject(h, 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !allowed.has(alg)) {
    throw new AlgorithmNotAllowedError('token alg is not in the allowlist');
  }
  const kid = header.kid;
  if (kid !== undefined && (typeof kid !== 'string' || !SAFE_KID.test(kid))) {
    throw new TokenMalformedError('token kid is not a short string of safe characters');
  }
  for (const param of REFUSED_HEADER_PARAMS) {
    if (param in header) throw new TokenMalformedError(`token header has "${param}"`);
  }
  return { alg, kid, header };
}

/**
 * The JWT claims set: a JSON object, with no `__proto__` member at any depth.
 * @throws TokenMalformedError
 */
export function decodeClaims(jws: ParsedJws): Record<string, unknown> {
  if (jws.payloadSegment === '') throw new TokenMalformedError('payload is empty');
  return decodeJsonObject(jws.payloadSegment, 'payload');
}
