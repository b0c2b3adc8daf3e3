import type { JwksFleetOptions, ResolvedFleetOptions } from '../store/fleet.options.js';
import type { JwksWebhookOptions, ResolvedWebhookOptions } from '../webhook/webhook.options.js';
import type { JwksMetricsOptions, ResolvedMetricsOptions } from '../metrics/metrics.options.js';
import type { ExecutionContext } from '@nestjs/common';
import type { JwksTokenSource, ResolvedTokenSource } from '../guards/token.source.js';
import type { JwksSubscriptionsOptions, ResolvedSubscriptionsOptions } from '../transports/graphql-ws.token.js';
import type { JwksWebSocketOptions, ResolvedWebSocketOptions } from '../transports/ws.options.js';
import type { JwtClaims } from '../verify/claims.validator.js';
import type { GrantClaimsOptions, ResolvedGrantClaims } from '../authorization/grant-claims.mapper.js';
import type { JwksMicroserviceOptions, ResolvedMicroserviceOptions } from '../transports/rpc-token.source.js';

/**
 * Turns the verified claims into the request's user (e.g. loads the account). Sync or async; the
 * result is written where `@CurrentUser()` reads it. Throwing, or returning `null`, `undefined` or
 * `false`, refuses the request with 401 (a throw is logged at error level, by error name).
 */
export type JwksUserMapper = (claims: JwtClaims, context: ExecutionContext) => unknown;

/** Key-set cache tuning; every field has a default in `JWKS_DEFAULTS`. */
export interface JwksCacheOptions {
  /** How long a fetched key set is fresh. Default 10 min. */
  ttlMs?: number;
  /** Minimum time between two refetches triggered by unknown `kid`s. Default 30 s. */
  cooldownMs?: number;
  /** How long past freshness the last good set still serves while refreshing fails. Default 24 h. */
  maxStaleMs?: number;
  /** Lower bound on a freshness given by `Cache-Control`/`Expires` (`no-cache` means this). Default 1 min, or `ttlMs` if smaller. */
  minTtlMs?: number;
  /** Upper bound on a freshness given by `Cache-Control`/`Expires`. Default 1 h. */
  maxTtlMs?: number;
  /**
   * Write the last good key set to this file (atomically, after each good fetch) and read it at
   * bootstrap when the first fetch fails, so a restart during an IdP outage still serves.
   * Off by default.
   */
  snapshotPath?: string;
  /** Start the background refresh this long before freshness ends (jittered). Default 30 s (at most half of `ttlMs`). */
  refreshAheadMs?: number;
  /** First retry delay after a failed fetch, doubled per failure with full jitter. Default 1 s. */
  backoffBaseMs?: number;
  /** Longest retry delay after failures. Default 60 s, and at most `cooldownMs` while a set is held. */
  backoffMaxMs?: number;
  /** Longest wait honoured from `Retry-After` / `x-ratelimit-reset`. Default 10 min. */
  maxRetryAfterMs?: number;
  /** Most requests waiting at once for a fetch in flight; beyond it they are refused at once. Default 512. */
  maxWaiters?: number;
  /** Longest a request waits for a fetch in flight. Default 2 s. */
  maxWaitMs?: number;
}

/** HTTP retrieval limits for the JWKS endpoint. */
export interface JwksFetchOptions {
  /** Whole-request timeout: connect, headers and body. Default 5 s. */
  timeoutMs?: number;
  /** Largest body read; larger responses are aborted. Default 512 KiB. */
  maxResponseBytes?: number;
  /** Most keys kept from one set. Default 100. */
  maxKeys?: number;
}

/**
 * One issuer: whose tokens are accepted and where its keys come from. Each issuer has its own key
 * set (cache, cooldown, backoff, health); a token's `iss` selects it before anything is fetched.
 * The presets (`auth0Issuer()`, `oktaIssuer()`, `entraIssuers()`, `keycloakIssuer()`,
 * `cognitoIssuer()`) build these for the usual identity providers.
 */
export interface JwksIssuerOptions {
  /** A token's `iss` must equal this exactly, e.g. `https://tenant.eu.auth0.com/`. */
  issuer: string;
  /**
   * The issuer's JWKS: `https:`, or `http:` on a loopback host only. Optional: without it, the
   * issuer's OpenID Connect discovery document (`{issuer}/.well-known/openid-configuration`, else
   * RFC 8414's `/.well-known/oauth-authorization-server`) names it.
   */
  jwksUri?: string;
  /** A token's audience claim must contain one of these. Default: the module's `audience`. */
  audience?: string | string[];
  /**
   * The claim that carries the audience. Default `'aud'`. Cognito access tokens carry the app
   * client in `client_id` and have no `aud`.
   */
  audienceClaim?: 'aud' | 'client_id';
  /** Claims that must have exactly these string values, e.g. Cognito's `{ token_use: 'access' }`. */
  requiredClaimValues?: Record<string, string>;
  /** Default: the module's `algorithms`. */
  algorithms?: string[];
  /** Default: the module's `clockToleranceSec`. */
  clockToleranceSec?: number;
  /** Default: the module's `maxTokenAgeSec`. */
  maxTokenAgeSec?: number;
  /** Default: the module's `requiredClaims`. */
  requiredClaims?: string[];
  /** Default: the module's `typ`. */
  typ?: string;
  /**
   * Hosts a discovered `jwks_uri` may be on besides the issuer's own (discovery only). A document
   * that points the keys at any other host is refused: it would let whoever can change the
   * document choose the keys.
   */
  allowedJwksHosts?: string[];
  /**
   * Where this issuer's tokens carry scopes, permissions and roles, for `@Scopes()`,
   * `@Permissions()` and `@Roles()`. Each kind left out keeps its default
   * (`JWKS_DEFAULT_GRANT_CLAIMS`); the presets set their identity provider's places.
   */
  grantClaims?: GrantClaimsOptions;
}

/**
 * Options of `JwksAuthModule.forRoot()` / `forRootAsync()`: either one issuer given flat
 * (`issuer`, `jwksUri`, `audience`), or several in `issuers`, with the options below shared.
 */
export interface JwksAuthModuleOptions {
  /** A token's `iss` must equal this exactly, e.g. `https://tenant.eu.auth0.com/`. Required unless `issuers` is given. */
  issuer?: string;
  /** The issuer's JWKS: `https:`, or `http:` on a loopback host only. Default: found by OIDC discovery from `issuer`. */
  jwksUri?: string;
  /** A token's `aud` must contain one of these. With `issuers`, the default of each issuer. */
  audience?: string | string[];
  /** One-issuer shorthand only (with `issuers`, set it per issuer): see `JwksIssuerOptions.audienceClaim`. */
  audienceClaim?: 'aud' | 'client_id';
  /** One-issuer shorthand only: see `JwksIssuerOptions.requiredClaimValues`. */
  requiredClaimValues?: Record<string, string>;
  /** One-issuer shorthand only: see `JwksIssuerOptions.allowedJwksHosts`. */
  allowedJwksHosts?: string[];
  /** One-issuer shorthand only: see `JwksIssuerOptions.grantClaims`. */
  grantClaims?: GrantClaimsOptions;
  /**
   * Several issuers, each with its own key set: `[{ issuer, audience, jwksUri? }, ...]` or what
   * the presets return (arrays are flattened). Not together with a flat `issuer` or `jwksUri`.
   */
  issuers?: Array<JwksIssuerOptions | readonly JwksIssuerOptions[]>;
  /** Most issuers at once, counting those added at runtime with `addIssuer()`. Default 100. */
  maxIssuers?: number;
  /** Accepted signature algorithms, asymmetric only. Default `['RS256']`. */
  algorithms?: string[];
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. Default 0. */
  clockToleranceSec?: number;
  /** Refuse tokens issued (`iat`) longer ago than this, in seconds; makes `iat` required. Default: no limit. */
  maxTokenAgeSec?: number;
  /** Claims every token must carry, e.g. `['sub', 'scope']`. Default none. */
  requiredClaims?: string[];
  /** Required header `typ`, e.g. `'at+jwt'` for RFC 9068 access tokens. Default: not checked. */
  typ?: string;
  cache?: JwksCacheOptions;
  fetch?: JwksFetchOptions;
  /**
   * Remember recently verified tokens (keyed by a SHA-256 of the whole token) so a repeated token
   * skips the signature check. Off by default; `true` for the defaults. Cached claims are frozen.
   */
  verifiedTokenCache?: boolean | VerifiedTokenCacheOptions;
  /** Register `JwksAuthGuard` globally (`APP_GUARD`); routes opt out with `@Public()`. Default false. */
  globalGuard?: boolean;
  /** Fail application startup when the first fetch fails, instead of retrying in the background. Default false. */
  failOnWarmupError?: boolean;
  /** Longest startup waits for the first fetch; it carries on in the background afterwards. Default 3 s. */
  warmupTimeoutMs?: number;
  /**
   * Status answered when no usable key set is held (never fetched, or past `maxStaleMs`): 503 with
   * `Retry-After` (default), or 401.
   */
  unavailableStatus?: 401 | 503;
  /**
   * The Passport strategy name of this registration (`AuthGuard(name)`). Default `'jwks'`. Give
   * each `JwksAuthModule` registration its own: Passport's table of strategies is process-wide,
   * so two registrations under one name would share one strategy.
   */
  strategyName?: string;
  /**
   * More Passport names for this registration's strategy, e.g. `['jwt']` so the `AuthGuard('jwt')`
   * of a passport-jwt recipe keeps working after the move. Default none. The same process-wide
   * table as `strategyName`: an alias replaces any strategy registered under that name before.
   */
  passportAliases?: string[];
  /**
   * Where the guard reads the token. Default: the bearer token of the Authorization header (sent
   * once). `{ from: 'header', name, scheme? }`, `{ from: 'cookie', name }`, `{ from: 'query', name }`
   * or a function `(request) => string | null | undefined` such as passport-jwt's `ExtractJwt`
   * extractors. See `JwksTokenSource`.
   */
  token?: JwksTokenSource;
  /**
   * GraphQL over graphql-ws (subscriptions, and queries sent on the socket): `token` says where the
   * token of an operation is read. Default: `connectionParams.Authorization` (or `authorization`)
   * as `Bearer <token>`. See `JwksSubscriptionTokenSource`.
   */
  subscriptions?: JwksSubscriptionsOptions;
  /**
   * Microservice handlers (`@MessagePattern`, `@EventPattern`): where a message's token is read.
   * Default: the `authorization` metadata entry (`Bearer <token>`) on transports with metadata
   * (gRPC, NATS, Kafka, RabbitMQ, MQTT 5); on TCP and Redis the packet metadata, else the
   * payload's `headers.authorization`. See `JwksMicroserviceTokenSource`.
   */
  microservice?: JwksMicroserviceOptions;
  /**
   * WebSocket gateways (socket.io and `ws`): where a client's token is read. Default: socket.io's
   * `handshake.auth.token`, then the handshake's Authorization header; `ws`: the upgrade request's
   * Authorization header. See `JwksWebSocketOptions`.
   */
  websocket?: JwksWebSocketOptions;
  /** Builds the request's user from the verified claims (e.g. loads the account). Default: the claims themselves. See `JwksUserMapper`. */
  mapUser?: JwksUserMapper;
  /**
   * The request property the guard writes the user to and `@CurrentUser()` reads. Default:
   * PassportModule's `property` where the guard can see that registration (not the global guard,
   * which lives in this module), else `'user'`.
   */
  userProperty?: string;
  /**
   * Fleet mode: the processes of this API share each issuer's key set through Redis (one upstream
   * fetch per refresh for the whole fleet; operator actions reach every process).
   * `{ redis: 'redis://…' | ioredis options | ioredis client, keyPrefix? }` or `{ store }`. See
   * `JwksFleetOptions` and the README's "Fleet mode". Without it, each process keeps its own.
   */
  fleet?: JwksFleetOptions;
  /**
   * The rotation webhook, off unless set: `{ secret, path?, auth0? }`. Signed notices (refresh,
   * revoke, restore) and Auth0 Log Streams key rotations/revocations act through
   * `JwksCacheService`, so for the whole fleet in fleet mode. See `JwksWebhookOptions` and the
   * README's "Rotation webhook".
   */
  webhook?: JwksWebhookOptions;
  /**
   * Metrics, off unless set: `true` (prom-client's default registry), `{ registry }` (yours),
   * `{ otel: true }` (`@opentelemetry/api`'s global meter), or `{ registry, otel: true }`. The
   * package used is an optional peer: install it. See the README's "Metrics".
   */
  metrics?: JwksMetricsOptions;
}

/** Verified-token cache tuning; every field has a default in `JWKS_DEFAULTS`. */
export interface VerifiedTokenCacheOptions {
  /** Most tokens remembered. Default 10,000. */
  maxEntries?: number;
  /** Longest an entry lives (never past the token's `exp`). Default 5 min. */
  ttlMs?: number;
  /** Byte budget: estimated heap cost of all cached claims. Default 32 MiB. */
  maxBytes?: number;
  /** Claims estimated above this are not cached. Default 16 KiB. */
  maxEntryBytes?: number;
}

/** One issuer after validation, with the module's shared values applied. */
export interface ResolvedIssuerOptions {
  readonly issuer: string;
  /** null: found by discovery. */
  readonly jwksUri: string | null;
  readonly audience: readonly string[];
  readonly audienceClaim: 'aud' | 'client_id';
  readonly requiredClaimValues: Readonly<Record<string, string>>;
  readonly algorithms: readonly string[];
  readonly clockToleranceSec: number;
  readonly maxTokenAgeSec: number | null;
  readonly requiredClaims: readonly string[];
  readonly typ: string | null;
  readonly allowedJwksHosts: readonly string[];
  /** Every kind set: the issuer's own places, else `JWKS_DEFAULT_GRANT_CLAIMS`. */
  readonly grantClaims: ResolvedGrantClaims;
}

/** Options after validation, with every default applied. Read-only at runtime. */
export interface ResolvedJwksOptions {
  /** The issuers configured at startup (`addIssuer()` adds more at runtime). */
  readonly issuers: readonly ResolvedIssuerOptions[];
  readonly maxIssuers: number;
  /** The shared defaults each issuer starts from. */
  readonly algorithms: readonly string[];
  readonly clockToleranceSec: number;
  readonly maxTokenAgeSec: number | null;
  readonly requiredClaims: readonly string[];
  readonly typ: string | null;
  /** The shared audience default; empty when each issuer names its own. */
  readonly audience: readonly string[];
  readonly cache: Readonly<Required<Omit<JwksCacheOptions, 'snapshotPath'>>> & { readonly snapshotPath: string | null };
  readonly fetch: Readonly<Required<JwksFetchOptions>>;
  readonly verifiedTokenCache: Readonly<Required<VerifiedTokenCacheOptions>> | null;
  readonly globalGuard: boolean;
  readonly failOnWarmupError: boolean;
  readonly warmupTimeoutMs: number;
  readonly unavailableStatus: 401 | 503;
  readonly strategyName: string;
  readonly passportAliases: readonly string[];
  readonly maxTokenBytes: number;
  /** null: the transport's default (HTTP: the Authorization header's bearer token). */
  readonly token: ResolvedTokenSource | null;
  /** graphql-ws: `token` null for the default (`connectionParams.Authorization`). Absent in hand-built options: the default. */
  readonly subscriptions?: ResolvedSubscriptionsOptions;
  readonly microservice: ResolvedMicroserviceOptions;
  /** WebSocket gateways: where a client's token is read. */
  readonly websocket: ResolvedWebSocketOptions;
  readonly mapUser: JwksUserMapper | null;
  /** null: PassportModule's `property`, else `'user'`. */
  readonly userProperty: string | null;
  /** null (or absent in hand-built options): no fleet, each process keeps its own key sets. */
  readonly fleet?: ResolvedFleetOptions | null;
  /** null (or absent in hand-built options): no webhook. */
  readonly webhook?: ResolvedWebhookOptions | null;
  /** null (or absent in hand-built options): no metrics. */
  readonly metrics?: ResolvedMetricsOptions | null;
}
