import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy, type StrategyOptionsWithRequest } from 'passport-jwt';
import { JWKS_RESOLVED_OPTIONS, JWKS_STRATEGY_NAME } from '../jwks-auth.constants.js';
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

// Typed `object` for the same reason; the options built below are still checked against
// passport-jwt's `StrategyOptionsWithRequest` where they are declared.
const JwksStrategyBase = PassportStrategy(Strategy, JWKS_STRATEGY_NAME) as unknown as new (options: object) => JwksPassportStrategy;

/**
 * Passport strategy `'jwks'` for apps that compose Passport strategies (`AuthGuard(['jwks', ...])`).
 * passport-jwt extracts the bearer token; `secretOrKeyProvider` runs our full verification
 * (cheap checks, claims, cached key, signature) and hands jsonwebtoken the verifying `KeyObject`,
 * which checks the signature and claims once more with the same rules. `JwksAuthGuard` calls the
 * verifier directly and skips Passport's per-request machinery.
 */
@Injectable()
export class JwksStrategy extends JwksStrategyBase {
  constructor(@Inject(JWKS_RESOLVED_OPTIONS) options: ResolvedJwksOptions, verifier: JwtVerifier) {
    const strategyOptions: StrategyOptionsWithRequest = {
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
      algorithms: [...options.algorithms] as StrategyOptionsWithRequest['algorithms'],
      issuer: options.issuer,
      audience: options.audience.length === 1 ? options.audience[0] : ([...options.audience] as [string, ...string[]]),
      jsonWebTokenOptions: { clockTolerance: options.clockToleranceSec },
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
    super(strategyOptions);
  }

  /** The verified claims become `request.user`. */
  validate(request: { jwksVerified?: JwtClaims }): JwtClaims | false {
    const claims = request.jwksVerified;
    delete request.jwksVerified;
    return claims ?? false;
  }
}
