import { PassportStrategy } from '@nestjs/passport';
import { JWKS_STRATEGY_NAME } from '../jwks-auth.constants.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { JwtVerifier } from '../verify/jwt.verifier.js';
import type { JwtClaims } from '../verify/claims.validator.js';
import { extractBearerToken } from '../guards/authorization.header.js';

/**
 * What `JwksStrategy` inherits from Passport's strategy, spelled out so the shipped declarations
 * do not name passport's types: an app may not have them installed.
 */
export interface JwksPassportStrategy {
  /** The name Passport knows the strategy by: `'jwks'`. */
  name?: string;
  authenticate(request: unknown, options?: unknown): void;
}

/** Reads the token from a request, or null: passport-jwt's `ExtractJwt.*` extractors fit. */
export type JwtFromRequest = (request: any) => string | null | undefined;

/** Options of `JwksJwtStrategy`. */
export interface JwksJwtStrategyOptions {
  /** The module's verifier (inject `JwtVerifier`): the only verification a token gets. */
  verifier: JwtVerifier;
  /**
   * Where the token is read: passport-jwt's extractors fit (`ExtractJwt.fromAuthHeaderAsBearerToken()`).
   * Default: the guard's own reading of `Authorization: Bearer`, which also refuses a repeated header.
   */
  jwtFromRequest?: JwtFromRequest;
  /** As passport-jwt's: `validate(request, claims)` instead of `validate(claims)`. */
  passReqToCallback?: boolean;
}

type Done = (err: unknown, user?: unknown, info?: unknown) => void;

/** What passport's `authenticate()` gives each request's copy of the strategy. */
interface PassportActions {
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
  error(err: unknown): void;
}

/** Reading the token the guard's way; a malformed or repeated header is no token. */
function guardExtraction(request: unknown): string | null {
  try {
    return extractBearerToken(request);
  } catch {
    return null;
  }
}

/**
 * A Passport strategy verifying with the module's `JwtVerifier` only: what the guard accepts
 * (every configured algorithm, EdDSA included), at the guard's cost: a token whose key is cached
 * verifies synchronously, with no second verification by jsonwebtoken. Extraction and
 * `passReqToCallback` work as passport-jwt's, so a passport-jwt strategy moves over by changing its
 * base class:
 *
 * ```ts
 * @Injectable()
 * export class JwtStrategy extends PassportStrategy(JwksJwtStrategy, 'jwt') {
 *   constructor(verifier: JwtVerifier) {
 *     super({ verifier, jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken() });
 *   }
 *   validate(claims: JwtClaims) { return claims; }
 * }
 * ```
 */
export class JwksJwtStrategy implements JwksPassportStrategy {
  /** passport-jwt's: `PassportStrategy(JwksJwtStrategy)` without a name answers `AuthGuard('jwt')`, as before. */
  name = 'jwt';
  private readonly verifier: JwtVerifier;
  private readonly jwtFromRequest: JwtFromRequest;
  private readonly passReqToCallback: boolean;
  private readonly verify: (...args: unknown[]) => void;

  /** `verify` is appended by `PassportStrategy()`, which calls `validate()` from it. */
  constructor(options: JwksJwtStrategyOptions, verify: (...args: unknown[]) => void) {
    if (typeof options?.verifier?.verifyOrDefer !== 'function') throw new TypeError('JwksJwtStrategy requires { verifier } (inject JwtVerifier)');
    if (typeof verify !== 'function') throw new TypeError('JwksJwtStrategy requires a verify callback (use PassportStrategy(JwksJwtStrategy) and validate())');
    this.verifier = options.verifier;
    this.jwtFromRequest = options.jwtFromRequest ?? guardExtraction;
    this.passReqToCallback = options.passReqToCallback === true;
    this.verify = verify;
  }

  authenticate(request: unknown): void {
    // Passport's per-request copy of this strategy carries success/fail/error.
    const self = this as unknown as PassportActions;
    let token: string | null | undefined;
    try {
      token = this.jwtFromRequest(request);
    } catch {
      token = null;
    }
    // passport-jwt's own refusal, so apps reading `info` see what they saw before.
    if (typeof token !== 'string' || token === '') return self.fail(new Error('No auth token'));
    let result: ReturnType<JwtVerifier['verifyOrDefer']>;
    try {
      result = this.verifier.verifyOrDefer(token);
    } catch (err) {
      return self.fail(err);
    }
    // A cached key verifies synchronously: no promise, no microtask (the guard's hot path).
    if (!(result instanceof Promise)) return this.accept(request, result.claims);
    result.then(
      (verified) => this.accept(request, verified.claims),
      (err: unknown) => self.fail(err),
    );
  }

  private accept(request: unknown, claims: JwtClaims): void {
    const self = this as unknown as PassportActions;
    const done: Done = (err, user, info) => {
      if (err) self.error(err);
      else if (!user) self.fail(info);
      else self.success(user, info);
    };
    try {
      if (this.passReqToCallback) this.verify(request, claims, done);
      else this.verify(claims, done);
    } catch (err) {
      self.error(err);
    }
  }
}

/** A constructor of the strategy, as the module builds it for one registration. */
export type JwksStrategyClass = new (options: ResolvedJwksOptions, verifier: JwtVerifier) => JwksPassportStrategy & {
  validate(claims: JwtClaims): JwtClaims;
};

/** What `PassportStrategy()` adds: the Passport instance the strategy registered with. */
interface PassportMixin {
  getPassportInstance(): { use(name: string, strategy: unknown): unknown };
}

/**
 * Builds the strategy class for one Passport name. Passport keeps strategies in one process-wide
 * table by name, so two `JwksAuthModule` registrations under the same name would share one entry
 * (the last registered wins, and `AuthGuard('jwks')` of one module would accept the other's
 * tokens); `strategyName` gives each its own. One class per name, built once.
 */
function strategyClass(name: string): JwksStrategyClass {
  // Typed structurally: the mixin's declared types name passport's.
  const Base = PassportStrategy(JwksJwtStrategy, name) as unknown as new (options: JwksJwtStrategyOptions) => JwksPassportStrategy & PassportMixin;
  return class extends Base {
    constructor(options: ResolvedJwksOptions, verifier: JwtVerifier) {
      super({ verifier });
      // `passportAliases`: the same instance under other names, so `AuthGuard('jwt')` keeps working.
      for (const alias of options.passportAliases) this.getPassportInstance().use(alias, this);
    }

    /** The verified claims become `request.user`. */
    validate(claims: JwtClaims): JwtClaims {
      return claims;
    }
  };
}

const classes = new Map<string, JwksStrategyClass>();

/**
 * Passport strategy `'jwks'` (or the module's `strategyName`, and its `passportAliases`) for apps
 * that compose Passport strategies (`AuthGuard(['jwks', ...])`). It verifies with the same
 * `JwtVerifier` as `JwksAuthGuard`, once; the guard also skips Passport's per-request machinery.
 * Injected by this class whatever its Passport name.
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
