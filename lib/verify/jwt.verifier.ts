import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import { AlgorithmNotAllowedError, IssuerMismatchError, JwksAuthError, TokenMalformedError, TokenTypeError } from '../errors/jwks.errors.js';
import type { Clock } from '../cache/clock.js';
import { NO_GRANTS, type GrantReader } from '../authorization/grant-claims.mapper.js';
import { validateClaims, type JwtClaims } from './claims.validator.js';
import { issuerRoute, normalizeTyp, StaticIssuerRouter, type IssuerRoute, type IssuerRouter, type KeyResolver } from './issuer.route.js';
import type { VerificationKey } from './jwk-set.parser.js';
import type { JwksAuthEvent, JwksAuthEventListener } from '../events/jwks-auth.events.js';

export type { IssuerRouter, KeyResolver } from './issuer.route.js';
import { verifySignature } from './signature.verifier.js';
import { decodeClaims, parseJws, type ParsedHeader, type ParsedJws } from './token.parser.js';
import { VerifiedTokenCache } from './verified-token.cache.js';

/**
 * Header segments of genuine tokens, parsed once: an IdP signs every token of a key with the
 * same header bytes. Only headers of tokens that verified go in, so an attacker cannot fill it.
 */
const KNOWN_HEADERS_MAX = 32;

/**
 * The verifier's per-request counts, for metrics: plain calls, no event object, and none at all
 * when no observer is given (the metrics option is off).
 */
export interface VerificationObserver {
  /** A token was accepted for this configured issuer (a verified-token cache hit included). */
  accepted(issuer: string): void;
  /** A lookup in the verified-token cache (only when the cache is on). */
  tokenCache(hit: boolean): void;
}

/** A verified token: its claims and the key that verified it. */
export interface VerifiedToken {
  claims: JwtClaims;
  key: VerificationKey;
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
  private readonly router: IssuerRouter;
  private readonly refusals = new Map<string, number>();
  private readonly tokenCache: VerifiedTokenCache | null;
  private readonly knownHeaders = new Map<string, ParsedHeader>();

  /**
   * @param keys the issuers (`JwksCacheService`'s registry routes by `iss`), or the key set of the
   *   options' single issuer
   */
  constructor(
    private readonly options: ResolvedJwksOptions,
    keys: IssuerRouter | KeyResolver,
    private readonly clock: Pick<Clock, 'now'>,
    /** Receive a `token-refused` event per refusal (the module passes `JWKS_EVENT_LISTENERS`). */
    private readonly listeners: readonly JwksAuthEventListener[] = [],
    /** Accepted tokens and verified-token cache lookups, for metrics (`JWKS_METRICS`); null when off. */
    private readonly observer: VerificationObserver | null = null,
  ) {
    this.router = 'route' in keys ? keys : new StaticIssuerRouter(options.issuers.slice(0, 1).map((issuer) => issuerRoute(issuer, keys)));
    const cacheOptions = options.verifiedTokenCache;
    this.tokenCache = cacheOptions === null ? null : new VerifiedTokenCache(cacheOptions);
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
    let route: IssuerRoute | undefined;
    try {
      // JavaScript callers can pass anything; refuse it with a coded error, not a TypeError.
      if (typeof token !== 'string') throw new TokenMalformedError('token is not a string');
      const now = this.clock.now();
      if (this.tokenCache !== null) {
        const hit = this.tokenCache.get(token, now);
        // A cached token is re-checked against the clock: `exp` bounds the entry, `nbf` had passed.
        if (hit !== undefined) {
          // A hit's `iss` routed to a configured issuer when it was verified, and the hit is still current.
          if (this.observer !== null) this.observeHit(hit.claims.iss);
          return hit;
        }
        if (this.observer !== null) this.observer.tokenCache(false);
      }
      const router = this.router;
      const jws = parseJws(token, this.options.maxTokenBytes, router.algorithms, this.knownHeaders);
      const payload = decodeClaims(jws);
      // The token's `iss` selects the issuer, before anything is fetched: an unknown one is refused
      // here, with no fetch and no state, however many arrive. Keys never cross issuers.
      route = router.route(payload.iss);
      if (route === undefined) throw new IssuerMismatchError(`token issuer is not ${router.describe()}`);
      // Always checked, also when one issuer's set is the union: a header remembered from a token of
      // a since-removed issuer must not skip its new issuer's allowlist.
      if (!route.algorithms.has(jws.alg)) {
        throw new AlgorithmNotAllowedError(`algorithm ${JSON.stringify(jws.alg)} is not accepted for this issuer`);
      }
      if (route.typ !== null && (typeof jws.header.typ !== 'string' || normalizeTyp(jws.header.typ) !== route.typ)) {
        throw new TokenTypeError('token typ is not the required type');
      }
      const claims = validateClaims(payload, route.claims, now);
      const held = route.keys.peekKeys(jws.kid, jws.alg);
      if (held !== undefined) return this.finish(token, jws, claims, held, now, route);
      const found = route;
      return found.keys
        .resolveKeys(jws.kid, jws.alg)
        .then((keys) => {
          // The fetch took time (up to fetch.timeoutMs): the token may have expired meanwhile.
          const later = this.clock.now();
          // The issuer may have been removed while the keys were fetched: refused as if it never was.
          if (this.router.route(claims.iss) !== found) throw new IssuerMismatchError(`token issuer is not ${this.router.describe()}`);
          validateClaims(claims, found.claims, later);
          return this.finish(token, jws, claims, keys, later, found);
        })
        .catch((err: unknown) => {
          // Removed while this request waited: refused as a token of an unknown issuer, not as an outage.
          const refusal = this.router.route(claims.iss) === found ? err : new IssuerMismatchError(`token issuer is not ${this.router.describe()}`);
          this.count(refusal, found);
          throw refusal;
        });
    } catch (err) {
      this.count(err, route);
      throw err;
    }
  }

  /**
   * Whether a verification made earlier still holds now: its issuer still served by the same
   * rules, its claims still valid (`exp`, `nbf`, maximum age, with the issuer's tolerance), its key
   * still in the current set (not rotated out, revoked or invalidated). No signature check: for
   * reusing one verification across the calls of one operation (a GraphQL query's guarded fields).
   */
  stillValid(verified: VerifiedToken): boolean {
    const route = this.router.route(verified.claims.iss);
    if (route === undefined || !route.keys.isKeyCurrent(verified.key)) return false;
    try {
      validateClaims(verified.claims, route.claims, this.clock.now());
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Where the issuer of verified claims keeps its grants (`grantClaims`): what `@Scopes()`,
   * `@Permissions()` and `@Roles()` are checked against. An issuer removed since the claims were
   * verified grants nothing.
   */
  grantsOf(claims: JwtClaims): GrantReader {
    return this.router.route(claims.iss)?.grants ?? NO_GRANTS;
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

  private finish(token: string, jws: ParsedJws, claims: JwtClaims, candidates: readonly VerificationKey[], now: number, route: IssuerRoute): VerifiedToken {
    const key = verifySignature(jws, candidates);
    if (!this.knownHeaders.has(jws.headerSegment)) {
      if (this.knownHeaders.size >= KNOWN_HEADERS_MAX) this.knownHeaders.delete(this.knownHeaders.keys().next().value as string);
      this.knownHeaders.set(jws.headerSegment, { alg: jws.alg, kid: jws.kid, header: jws.header });
    }
    if (this.tokenCache !== null) {
      const maxAge = route.claims.maxTokenAgeSec;
      const validUntil = Math.min(claims.exp * 1000, maxAge === null ? Infinity : ((claims.iat as number) + maxAge) * 1000);
      // The entry keeps its issuer's key set: a hit is re-checked against that set (rotated, revoked, removed).
      this.tokenCache.set(token, claims, jws.payloadSegment.length, key, route.keys, now, validUntil);
    }
    if (this.observer !== null) this.observer.accepted(route.issuer);
    return { claims, key };
  }

  private observeHit(iss: string): void {
    const observer = this.observer as VerificationObserver;
    observer.tokenCache(true);
    observer.accepted(iss);
  }

  /** A listener's throw never reaches the request: a broken metrics sink must not refuse tokens differently. */
  private emit(event: JwksAuthEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // ignored, as the key sets do
      }
    }
  }

  private count(err: unknown, route: IssuerRoute | undefined): void {
    const code = err instanceof JwksAuthError ? err.code : 'ERR_UNEXPECTED';
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
    // The token's own `iss` is never the label (an attacker would choose the metric's cardinality).
    if (this.listeners.length > 0) this.emit({ type: 'token-refused', code, issuer: route?.issuer ?? '' });
  }
}
