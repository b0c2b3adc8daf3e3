import { grantReader, type GrantReader } from '../authorization/grant-claims.mapper.js';
import type { ResolvedIssuerOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { ClaimsPolicy } from './claims.validator.js';
import type { VerificationKey } from './jwk-set.parser.js';

/** Where the verifier gets candidate keys: one issuer's key set, which may refetch on a miss. */
export interface KeyResolver {
  /** Candidates without any I/O when the held set can answer, else undefined. */
  peekKeys(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined;
  /** Candidates, refetching the set on an unknown kid when the policy allows. */
  resolveKeys(kid: string | undefined, alg: string): Promise<readonly VerificationKey[]>;
  /** Whether a key is still part of the current, usable set. */
  isKeyCurrent(key: VerificationKey): boolean;
}

/** Everything the verifier needs about one issuer, precomputed once: its rules and its keys. */
export interface IssuerRoute {
  readonly issuer: string;
  readonly keys: KeyResolver;
  readonly claims: ClaimsPolicy;
  readonly algorithms: ReadonlySet<string>;
  /** The required `typ`, normalised (see `normalizeTyp`), or null. */
  readonly typ: string | null;
  /** Reads the issuer's scopes, permissions and roles (`grantClaims`); used only on decorated routes. */
  readonly grants: GrantReader;
}

/** How the verifier finds a token's issuer. `JwksCacheService`'s registry is one. */
export interface IssuerRouter {
  /** The route of the issuer a token names in `iss`, or undefined: an unknown `iss` costs nothing else. */
  route(iss: unknown): IssuerRoute | undefined;
  /** Every algorithm some issuer accepts: the first, cheap header check. */
  readonly algorithms: ReadonlySet<string>;
  /** Configured issuers, for the refusal message of an unknown `iss` (the token's own is never quoted). */
  describe(): string;
}

/** `typ` compares case-insensitively and without an `application/` prefix (RFC 7515 §4.1.9). */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

export function issuerRoute(options: ResolvedIssuerOptions, keys: KeyResolver): IssuerRoute {
  return Object.freeze({
    issuer: options.issuer,
    keys,
    claims: Object.freeze({
      issuer: options.issuer,
      audience: options.audience,
      audienceClaim: options.audienceClaim,
      requiredClaimValues: Object.freeze(Object.entries(options.requiredClaimValues)),
      clockToleranceSec: options.clockToleranceSec,
      maxTokenAgeSec: options.maxTokenAgeSec,
      requiredClaims: options.requiredClaims,
    }),
    algorithms: new Set(options.algorithms),
    typ: options.typ === null ? null : normalizeTyp(options.typ),
    grants: grantReader(options.grantClaims),
  });
}

/** What follows "token issuer is not" in a refusal: the configured issuers, quoted, at most three. */
export function describeIssuers(issuers: readonly string[]): string {
  if (issuers.length === 0) return 'a configured issuer (none is configured)';
  const shown = issuers.slice(0, 3).map((i) => JSON.stringify(i)).join(', ');
  return issuers.length === 1 ? `the configured ${shown}` : `one of the ${issuers.length} configured issuers (${shown}${issuers.length > 3 ? ', ...' : ''})`;
}

/** A router over fixed routes (a verifier built by hand around one key resolver). */
export class StaticIssuerRouter implements IssuerRouter {
  private readonly routes: ReadonlyMap<string, IssuerRoute>;
  readonly algorithms: ReadonlySet<string>;

  constructor(routes: readonly IssuerRoute[]) {
    this.routes = new Map(routes.map((r) => [r.issuer, r]));
    this.algorithms = new Set(routes.flatMap((r) => [...r.algorithms]));
  }

  route(iss: unknown): IssuerRoute | undefined {
    return typeof iss === 'string' ? this.routes.get(iss) : undefined;
  }

  describe(): string {
    return describeIssuers([...this.routes.keys()]);
  }
}
