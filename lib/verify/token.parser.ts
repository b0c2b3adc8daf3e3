import { isUtf8 } from 'node:buffer';
import { AlgorithmNotAllowedError, TokenMalformedError } from '../errors/jwks.errors.js';
import { JWKS_LIMITS } from '../jwks-auth.constants.js';
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

const MAX_DEPTH = JWKS_LIMITS.maxJsonDepth;

/**
 * Whether the text opens more than `max` objects or arrays in all. Only such a text can nest
 * deeper than `max`: a typical token has a handful, so this is a few `indexOf` calls.
 */
function opensMoreThan(text: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++count > max) return true;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++count > max) return true;
  return false;
}

/** Whether (already valid) JSON text nests deeper than `max`: one pass over the characters, no recursion. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string, escapes included: brackets inside it do not nest.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * Own `__proto__` keys anywhere would pollute any object the claims are later merged into.
 * Iterative, so no payload can exhaust the stack (nesting is bounded before it runs), and
 * without a temporary array per object.
 */
function hasProtoKey(root: object): boolean {
  const pending: object[] = [root];
  while (pending.length > 0) {
    const value = pending.pop() as Record<string, unknown>;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === 'object' && v !== null) pending.push(v);
      }
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
    for (const k in value) {
      const v = value[k];
      if (typeof v === 'object' && v !== null) pending.push(v);
    }
  }
  return false;
}

/**
 * A `\u` escape of one of the characters of `__proto__` (`_`, `p`, `r`, `o`, `t`): a key can
 * decode to `__proto__` only if the text holds it literally or has one of these.
 */
const PROTO_CHAR_ESCAPE = /\\u00(?:5[fF]|6[fF]|7[024])/;

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  const bytes = Buffer.from(segment, 'base64url');
  // toString would replace invalid sequences with U+FFFD: a second spelling of the signed bytes
  // (jose refuses them too). isUtf8 is a SIMD check, well under a microsecond for a token.
  if (!isUtf8(bytes)) throw new TokenMalformedError(`${what} is not valid UTF-8`);
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TokenMalformedError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenMalformedError(`${what} is not a JSON object`);
  }
  if (opensMoreThan(text, MAX_DEPTH) && nestsDeeperThan(text, MAX_DEPTH)) {
    throw new TokenMalformedError(`${what} nests deeper than ${MAX_DEPTH} levels`);
  }
  // Walk the object only when its text could spell the key (directly or through \u escapes).
  if ((text.includes('__proto__') || (text.includes('\\u') && PROTO_CHAR_ESCAPE.test(text))) && hasProtoKey(value)) {
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
 * The JWT claims set: a JSON object of valid UTF-8, nested at most `JWKS_LIMITS.maxJsonDepth`
 * levels, with no `__proto__` member at any depth.
 * @throws TokenMalformedError
 */
export function decodeClaims(jws: ParsedJws): Record<string, unknown> {
  if (jws.payloadSegment === '') throw new TokenMalformedError('payload is empty');
  return decodeJsonObject(jws.payloadSegment, 'payload');
}
