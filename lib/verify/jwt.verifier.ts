import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import { JwksAuthError, TokenMalformedError, TokenTypeError } from '../errors/jwks.errors.js';
import type { Clock } from '../cache/clock.js';
import { validateClaims, type ClaimsPolicy, type JwtClaims } from './claims.validator.js';
import type { VerificationKey } from './jwk-set.parser.js';
import { verifySignature } from './signature.verifier.js';
import { decodeClaims, parseJws, type ParsedHeader, type ParsedJws } from './token.parser.js';
import { VerifiedTokenCache } from './verified-token.cache.js';

/**
 * Header segments of genuine tokens, parsed once: an IdP signs every token of a key with the
 * same header bytes. Only headers of tokens that verified go in, so an attacker cannot fill it.
 */
const KNOWN_HEADERS_MAX = 32;

/** Where the verifier gets candidate keys: the cache service, which may refetch on a miss. */
export interface KeyResolver {
  /** Candidates without any I/O when the held set can answer, else undefined. */
  peekKeys(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined;
  /** Candidates, refetching the set on an unknown kid when the policy allows. */
  resolveKeys(kid: string | undefined, alg: string): Promise<readonly VerificationKey[]>;
  /** Whether a key is still part of the current, usable set. */
  isKeyCurrent(key: VerificationKey): boolean;
}

/** A verified token: its claims and the key that verified it. */
export interface VerifiedToken {
  claims: JwtClaims;
  key: VerificationKey;
}

/** `typ` compares case-insensitively and without an `application/` prefix (RFC 7515 §4.1.9). */
function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

/**
 * Verifies a compact JWS access token: cheap checks, claims, key lookup, signature. Plain class,
 * no Nest: the guard and the Passport strategy both call it.
 *
 * Claims are checked before the key lookup (RFC 8725 allows any order, the outcome is the same
 * refusal): an expired, foreign or malformed token never costs a fetch or a signature check.
 * When the key is in memory, verification completes synchronously (`verifyOrDefer`): no promise,
 * no microtask on the request path.
 */
export class JwtVerifier {
  private readonly allowed: ReadonlySet<string>;
  private readonly claimsPolicy: ClaimsPolicy;
  private readonly typ: string | null;
  private readonly refusals = new Map<string, number>();
  private readonly tokenCache: VerifiedTokenCache | null;
  private readonly isKeyCurrent: (key: VerificationKey) => boolean;
  private readonly knownHeaders = new Map<string, ParsedHeader>();

  constructor(
    private readonly options: ResolvedJwksOptions,
    private readonly keys: KeyResolver,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.allowed = new Set(options.algorithms);
    this.typ = options.typ === null ? null : normalizeTyp(options.typ);
    this.claimsPolicy = {
      issuer: options.issuer,
      audience: options.audience,
      clockToleranceSec: options.clockToleranceSec,
      maxTokenAgeSec: options.maxTokenAgeSec,
      requiredClaims: options.requiredClaims,
    };
    const cacheOptions = options.verifiedTokenCache;
    this.tokenCache = cacheOptions === null ? null : new VerifiedTokenCache(cacheOptions);
    this.isKeyCurrent = (key) => keys.isKeyCurrent(key);
  }

  /**
   * @returns the verified claims
   * @throws JwtVerificationError subclasses, each with a stable `code`
   */
  async verify(token: string): Promise<JwtClaims> {
    return (await this.verifyOrDefer(token)).claims;
  }

  /** As `verify`, also returning the key that verified the signature. */
  async verifyWithKey(token: string): Promise<VerifiedToken> {
    return this.verifyOrDefer(token);
  }

  /**
   * The hot path: returns the result synchronously when no I/O is needed, or a promise when the
   * key set must be fetched first. Throws (synchronously) or rejects with a JwtVerificationError.
   */
  verifyOrDefer(token: string): VerifiedToken | Promise<VerifiedToken> {
    try {
      // JavaScript callers can pass anything; refuse it with a coded error, not a TypeError.
      if (typeof token !== 'string') throw new TokenMalformedError('token is not a string');
      const now = this.clock.now();
      if (this.tokenCache !== null) {
        const hit = this.tokenCache.get(token, now, this.isKeyCurrent);
        // A cached token is re-checked against the clock: `exp` bounds the entry, `nbf` had passed.
        if (hit !== undefined) return hit;
      }
      const jws = parseJws(token, this.options.maxTokenBytes, this.allowed, this.knownHeaders);
      if (this.typ !== null && (typeof jws.header.typ !== 'string' || normalizeTyp(jws.header.typ) !== this.typ)) {
        throw new TokenTypeError('token typ is not the required type');
      }
      const claims = validateClaims(decodeClaims(jws), this.claimsPolicy, now);
      const held = this.keys.peekKeys(jws.kid, jws.alg);
      if (held !== undefined) return this.finish(token, jws, claims, held, now);
      return this.keys
        .resolveKeys(jws.kid, jws.alg)
        .then((keys) => {
          // The fetch took time (up to fetch.timeoutMs): the token may have expired meanwhile.
          const later = this.clock.now();
          validateClaims(claims, this.claimsPolicy, later);
          return this.finish(token, jws, claims, keys, later);
        })
        .catch((err: unknown) => {
          this.count(err);
          throw err;
        });
    } catch (err) {
      this.count(err);
      throw err;
    }
  }

  /**
   * Hits and misses of the verified-token cache, its entries and their estimated heap bytes
   * (zeros when it is off).
   */
  verifiedTokenCacheStats(): { hits: number; misses: number; size: number; bytes: number } {
    const c = this.tokenCache;
    return { hits: c?.hits ?? 0, misses: c?.misses ?? 0, size: c?.size ?? 0, bytes: c?.bytes ?? 0 };
  }

  /** How many tokens were refused, by error code, since startup (for logs and metrics). */
  refusalCounts(): Record<string, number> {
    return Object.fromEntries(this.refusals);
  }

  private finish(token: string, jws: ParsedJws, claims: JwtClaims, candidates: readonly VerificationKey[], now: number): VerifiedToken {
    const key = verifySignature(jws, candidates);
    if (!this.knownHeaders.has(jws.headerSegment)) {
      if (this.knownHeaders.size >= KNOWN_HEADERS_MAX) this.knownHeaders.delete(this.knownHeaders.keys().next().value as string);
      this.knownHeaders.set(jws.headerSegment, { alg: jws.alg, kid: jws.kid, header: jws.header });
    }
    if (this.tokenCache !== null) {
      const maxAge = this.claimsPolicy.maxTokenAgeSec;
      const validUntil = Math.min(claims.exp * 1000, maxAge === null ? Infinity : ((claims.iat as number) + maxAge) * 1000);
      this.tokenCache.set(token, claims, jws.payloadSegment.length, key, now, validUntil);
    }
    return { claims, key };
  }

  private count(err: unknown): void {
    const code = err instanceof JwksAuthError ? err.code : 'ERR_UNEXPECTED';
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
  }
}
