import { PassportStrategy } from '@nestjs/passport';
import { Strategy, type StrategyOptionsWithRequest } from 'passport-jwt';
import { JWKS_DEFAULTS, JWKS_STRATEGY_NAME, SUPPORTED_ALGORITHMS } from '../jwks-auth.constants.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import { JwtVerifier } from '../verify/jwt.verifier.js';
import type { JwtClaims } from '../verify/claims.validator.js';
import { extractBearerToken } from '../guards/authorization.header.js';

/**
 * What `JwksStrategy` inherits from Passport's strategy, spelled out so the shipped declarations
 * do not name passport-jwt's types: `@types/passport-jwt` is a dev dependency here, not something
 * an app installs.
 */
export interface JwksPassportStrategy {
  /** The name Passport knows the strategy by: `'jwks'`. */
  name?: string;
  authenticate(request: unknown, options?: unknown): void;
}

/** A constructor of the strategy, as the module builds it for one registration. */
export type JwksStrategyClass = new (options: ResolvedJwksOptions, verifier: JwtVerifier) => JwksPassportStrategy & {
  validate(request: { jwksVerified?: JwtClaims }): JwtClaims | false;
};

/**
 * Builds the strategy class for one Passport name. Passport keeps strategies in one process-wide
 * table by name, so two `JwksAuthModule` registrations under the same name would share one entry
 * (the last registered wins, and `AuthGuard('jwks')` of one module would accept the other's
 * tokens); `strategyName` gives each its own. One class per name, built once.
 */
function strategyClass(name: string): JwksStrategyClass {
  // Typed `object` for the same reason as above; the options built below are still checked
  // against passport-jwt's `StrategyOptionsWithRequest` where they are declared.
  const Base = PassportStrategy(Strategy, name) as unknown as new (options: object) => JwksPassportStrategy;
  return class extends Base {
    constructor(options: ResolvedJwksOptions, verifier: JwtVerifier) {
      super(passportJwtOptions(options, verifier));
    }

    /** The verified claims become `request.user`. */
    validate(request: { jwksVerified?: JwtClaims }): JwtClaims | false {
      const claims = request.jwksVerified;
      delete request.jwksVerified;
      return claims ?? false;
    }
  };
}

/**
 * passport-jwt extracts the bearer token (as the guard does); `secretOrKeyProvider` runs our full
 * verification (cheap checks, claims, cached key, signature) and hands jsonwebtoken the verifying
 * `KeyObject`, which checks the signature and claims once more with the same rules.
 */
function passportJwtOptions(options: ResolvedJwksOptions, verifier: JwtVerifier): StrategyOptionsWithRequest {
  return {
    // The guard's own reading: a repeated Authorization header (which a proxy may read the other
    // way) is refused here too, where passport-jwt's extractor would take the first one.
    jwtFromRequest: (request: unknown) => {
      try {
        return extractBearerToken(request);
      } catch {
        return null;
      }
    },
    passReqToCallback: true,
    // Issuer, audience, algorithm and times were checked per issuer by our verifier (issuers can be
    // added at runtime, so no fixed list here would stay true); jsonwebtoken re-checks the
    // signature with the key that verified it, and the times with the widest tolerance configured.
    algorithms: [...SUPPORTED_ALGORITHMS] as StrategyOptionsWithRequest['algorithms'],
    jsonWebTokenOptions: { clockTolerance: JWKS_DEFAULTS.maxClockToleranceSec },
    secretOrKeyProvider: (request: { jwksVerified?: JwtClaims }, rawJwtToken: string, done: (err: unknown, key?: string) => void) => {
      verifier.verifyWithKey(rawJwtToken).then(
        ({ claims, key }) => {
          request.jwksVerified = claims;
          // jsonwebtoken 9 accepts a KeyObject; passport-jwt's types only know strings and Buffers.
          done(null, key.keyObject as unknown as string);
        },
        (err: unknown) => done(err),
      );
    },
  };
}

const classes = new Map<string, JwksStrategyClass>();

/**
 * Passport strategy `'jwks'` (or the module's `strategyName`) for apps that compose Passport
 * strategies (`AuthGuard(['jwks', ...])`). `JwksAuthGuard` calls the verifier directly and skips
 * Passport's per-request machinery. Injected by this class whatever its Passport name.
 */
export const JwksStrategy: JwksStrategyClass = strategyClass(JWKS_STRATEGY_NAME);
export type JwksStrategy = InstanceType<JwksStrategyClass>;
classes.set(JWKS_STRATEGY_NAME, JwksStrategy);

/** The strategy registered under the module's `strategyName`. */
export function createJwksStrategy(options: ResolvedJwksOptions, verifier: JwtVerifier): JwksStrategy {
  let Class = classes.get(options.strategyName);
  if (Class === undefined) classes.set(options.strategyName, (Class = strategyClass(options.strategyName)));
  return new Class(options, verifier);
}
