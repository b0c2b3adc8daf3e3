export { JwksAuthModule } from './jwks-auth.module';
export { JWKS_AUTH_MODULE_OPTIONS } from './jwks-auth.module-definition';
export { JWKS_CLOCK, JWKS_DEFAULTS, JWKS_FETCHER, JWKS_RESOLVED_OPTIONS, SUPPORTED_ALGORITHMS } from './jwks-auth.constants';
export type {
  JwksAuthModuleOptions,
  JwksCacheOptions,
  JwksFetchOptions,
  ResolvedJwksOptions,
} from './interfaces/jwks-auth-options.interface';
export { JwksCacheService, type JwksCacheState } from './services/jwks-cache.service';
export type { Clock } from './cache/clock';
export type { KeySetState, KeySetError } from './cache/key-set.state';
export type { JwksFetcher, JwksFetchRequest, JwksFetchResult } from './fetch/jwks.fetcher';
export { JwtVerifier } from './verify/jwt.verifier';
export type { JwtClaims } from './verify/claims.validator';
export type { VerificationKey } from './verify/jwk-set.parser';
export { JwksAuthGuard } from './guards/jwks-auth.guard';
export { JwksStrategy } from './passport/jwks.strategy';
export { JwksHealthIndicator } from './health/jwks.health';
export { Public } from './decorators/public.decorator';
export { JWKS_PUBLIC_KEY } from './decorators/public.decorator';
export { CurrentUser } from './decorators/current-user.decorator';
export * from './errors/jwks.errors';
