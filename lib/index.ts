export { JwksAuthModule } from './jwks-auth.module.js';
export { JWKS_AUTH_MODULE_OPTIONS, type JwksAuthModuleAsyncOptions, type JwksAuthModuleForRootOptions } from './jwks-auth.module-definition.js';
export { JWKS_CLOCK, JWKS_DEFAULT_GRANT_CLAIMS, JWKS_DEFAULTS, JWKS_DISCOVERY_FETCHER, JWKS_FETCHER, JWKS_EVENT_LISTENERS, JWKS_METRICS, METRICS_DEFAULTS, JWKS_RESOLVED_OPTIONS, JWKS_STORE, JWKS_WS_CLOSE_CODES, SUPPORTED_ALGORITHMS } from './jwks-auth.constants.js';
export type {
  JwksAuthModuleOptions,
  JwksIssuerOptions,
  ResolvedIssuerOptions,
  JwksCacheOptions,
  JwksFetchOptions,
  ResolvedJwksOptions,
  VerifiedTokenCacheOptions,
  JwksUserMapper,
} from './interfaces/jwks-auth-options.interface.js';
export type { JwksTokenSource, JwksTokenExtractor, ResolvedTokenSource } from './guards/token.source.js';
export type {
  JwksSubscriptionsOptions,
  JwksSubscriptionTokenSource,
  JwksConnectionParamsExtractor,
  ResolvedSubscriptionsOptions,
  ResolvedSubscriptionTokenSource,
} from './transports/graphql-ws.token.js';
export type { GraphqlWsContextLike } from './transports/graphql-ws.context.js';
export { jwksGraphqlWsOnConnect, type JwksGraphqlWsOnConnectOptions } from './transports/graphql-ws.on-connect.js';
export type {
  JwksMicroserviceOptions,
  JwksMicroserviceTokenExtractor,
  JwksMicroserviceTokenSource,
  ResolvedMicroserviceOptions,
  ResolvedMicroserviceTokenSource,
} from './transports/rpc-token.source.js';
export { JwksRpcQuietRefusal, type JwksRpcRefusalBody } from './transports/rpc.refusal.js';
export {
  auth0Issuer,
  oktaIssuer,
  entraIssuers,
  keycloakIssuer,
  cognitoIssuer,
  type IssuerPresetOverrides,
  type Auth0IssuerPreset,
  type OktaIssuerPreset,
  type EntraIssuersPreset,
  type KeycloakIssuerPreset,
  type CognitoIssuerPreset,
} from './issuers/issuer.presets.js';
export { JwksCacheService, kidFingerprint, type JwksCacheState, type JwksRefreshOptions } from './services/jwks-cache.service.js';
export type { Clock, TimerHandle } from './cache/clock.js';
export type { KeySetState, KeySetError } from './cache/key-set.state.js';
export type { KeySetPhase } from './cache/key-set.policy.js';
export { isFleetStore, type KeySetStore, type KeySetLease, type KeySetId, type FleetKeySetStore } from './store/key-set.store.js';
export { RedisKeySetStore, type RedisKeySetStoreOptions, type RedisClientLike, type RedisKeySetKeys, type RedisStoredValueRefusal } from './store/redis-key-set.store.js';
export type { JwksFleetOptions, ResolvedFleetOptions } from './store/fleet.options.js';
export type { JwksWebhookOptions, ResolvedWebhookOptions } from './webhook/webhook.options.js';
export type { JwksAdminOptions } from './admin/admin.options.js';
export { signWebhookBody } from './webhook/webhook.signature.js';
export type { JwksMetricsOptions, ResolvedMetricsOptions, PromRegistryLike } from './metrics/metrics.options.js';
export type { VerificationObserver } from './verify/jwt.verifier.js';
export { MemoryKeySetStore } from './store/memory-key-set.store.js';
export { SnapshotFileKeySetStore, type SnapshotFileKeySetStoreOptions } from './store/snapshot-file-key-set.store.js';
export type { KeySetStateRefusal } from './store/key-set-state.validator.js';
export type { KeySetLog } from './cache/key-set.source.js';
export { JwksAuthEvents, type JwksAuthEventHandler, type JwksAuthEventMap, type JwksAuthEventName } from './events/event.stream.js';
export { loggingListener, type LoggingListenerOptions, type UnknownKidAction, type WebhookRefusalReason, type JwksAuthEvent, type JwksAuthEventBody, type JwksAuthEventListener } from './events/jwks-auth.events.js';
export type { FetchReason } from './cache/key-set.policy.js';
export type { JwksFetcher, JwksFetchRequest, JwksFetchResult } from './fetch/jwks.fetcher.js';
export { httpDiscoveryFetcher, type DiscoveryDocumentKind, type DiscoveryFetcher, type DiscoveryRequest, type DiscoveryResult } from './fetch/discovery.fetcher.js';
export { JwtVerifier, type KeyResolver, type IssuerRouter, type VerifiedToken } from './verify/jwt.verifier.js';
export type { IssuerRoute } from './verify/issuer.route.js';
export type { ClaimsPolicy } from './verify/claims.validator.js';
export type { JwtClaims } from './verify/claims.validator.js';
export type { VerificationKey } from './verify/jwk-set.parser.js';
export { JwksAuthGuard } from './guards/jwks-auth.guard.js';
export type { HttpRequestLike } from './guards/authorization.header.js';
export { JwksStrategy, JwksJwtStrategy, type JwksPassportStrategy, type JwksStrategyClass, type JwksJwtStrategyOptions, type JwtFromRequest } from './passport/jwks.strategy.js';
export type { PassportJwtSecretOptions, PassportJwtSecretProvider } from './compat/passport-jwt.secret.js';
export { JwksClientFacade, type JwksClientOptions, type JwksSigningKey } from './compat/jwks-client.facade.js';
export type { JwksRsaTuningOptions } from './compat/jwks-rsa.options.js';
export { JwksHealthIndicator, type JwksHealthCheckOptions, type JwksHealthIndicatorResult } from './health/jwks.health.js';
export { Public } from './decorators/public.decorator.js';
export { Scopes, Permissions, Roles, type GrantDecorator, type GrantDecoratorFactory } from './authorization/grant.decorators.js';
export { unmetRequirement, satisfies, type GrantKind, type GrantMode, type GrantRequirement, type HeldGrants } from './authorization/grants.policy.js';
export type {
  ClaimPath,
  GrantClaimMapper,
  GrantClaimSource,
  GrantClaimsOptions,
  GrantReader,
  ResolvedGrantClaims,
  ResolvedGrantSource,
} from './authorization/grant-claims.mapper.js';
export { JWKS_PUBLIC_KEY } from './decorators/public.decorator.js';
export { CurrentUser } from './decorators/current-user.decorator.js';
export { JwksWsHandshake, type JwksWsHandshakeResult, type JwksWsAttachOptions, type JwksSocketIoMiddleware } from './transports/ws.handshake.js';
export { JwksWsRefusal, type JwksWsRefusalBody } from './transports/ws.refusal.js';
export type { JwksWebSocketOptions, JwksWebSocketTokenSource, JwksWebSocketTokenExtractor, ResolvedWebSocketOptions, ResolvedWebSocketTokenSource } from './transports/ws.options.js';
export * from './errors/jwks.errors.js';
export { ClientCredentialsModule } from './client-credentials/client-credentials.module.js';
export type { ClientCredentialsForRootOptions, ClientCredentialsAsyncOptions } from './client-credentials/client-credentials.module-definition.js';
export type { ClientCredentialsOptions } from './client-credentials/client-credentials.options.js';
export {
  ClientCredentialsService,
  type ClientTokenRequest,
  type ClientTokenResponse,
  type ResolvedClientCredentialsOptions,
  type ClientCredentialsServiceDeps,
} from './client-credentials/client-credentials.service.js';
export type { ClientAuthenticationMethod, AssertionAlgorithm, PrivateKeyInput, ClientAuthenticator, ClientAuthenticationParts } from './client-credentials/client.authentication.js';
export type { ClientTokenMetrics, ClientTokenCacheResult } from './client-credentials/client-token.metrics.js';
export { MemoryClientTokenStore, type ClientTokenStore, type ClientTokenEntry, type ClientTokenLease } from './client-credentials/client-token.store.js';
export { EncryptedClientTokenStore, type EncryptedStoreLog } from './client-credentials/encrypted-token.store.js';
export { RedisClientTokenStore, type RedisClientTokenStoreOptions } from './client-credentials/redis-client-token.store.js';
export type { RedisTarget } from './store/redis.connection.js';
export type { ClientTokenRecord, ClientTokenGate, TokenPolicyOptions } from './client-credentials/token.policy.js';
export type { ThrottleSource } from './client-credentials/throttle.headers.js';
export type { ClientCredentialsEvent, ClientCredentialsEventBody, ClientCredentialsEventListener, ClientTokenTrigger } from './client-credentials/client-credentials.events.js';
export { withClientCredentials, type FetchLike } from './client-credentials/token.fetch.js';
export { attachClientCredentials, type AxiosTarget, type AxiosInstanceLike } from './client-credentials/axios.interceptor.js';
