import { AlgorithmNotAllowedError, IssuerMismatchError, KeyNotFoundError, TokenMalformedError } from '../errors/jwks.errors.js';
import type { IssuerRegistry } from '../issuers/issuer.registry.js';
import type { VerificationKey } from '../verify/jwk-set.parser.js';
import { decodeClaims, parseJws } from '../verify/token.parser.js';
import { checkJwksRsaOptions, type JwksRsaTuningOptions } from './jwks-rsa.options.js';

/** Options of `passportJwtSecret()`: jwks-rsa's, tuning ignored (see `JwksRsaTuningOptions`). */
export interface PassportJwtSecretOptions extends JwksRsaTuningOptions {
  /**
   * As jwks-rsa's: decides what a key lookup error becomes; call `cb(err)` to refuse with it, or
   * `cb(null)` to hand passport-jwt no key (it then refuses the token itself). Default: refuse
   * with the module's typed error (`KeyCoolingDownError`, `IssuerMismatchError`, ...).
   */
  handleSigningKeyError?: (err: Error | null, cb: (err: Error | null) => void) => void;
}

/**
 * A passport-jwt `secretOrKeyProvider`: `(request, rawJwtToken, done)`. Typed without
 * passport-jwt's names (apps may not have its types); it fits `secretOrKeyProvider` as is.
 */
export type PassportJwtSecretProvider = (request: unknown, rawJwtToken: unknown, done: (err: unknown, secretOrKey?: string | Buffer) => void) => void;

/**
 * jwks-rsa's `passportJwtSecret(options)`, on the module's key sets. The token's header and `iss`
 * are read without trust only to choose among the configured issuers (an unknown `iss` is refused
 * with no fetch) and the key by `kid`; the key comes from that issuer's cache. passport-jwt then
 * verifies signature and claims with jsonwebtoken and the strategy's own options.
 */
export function passportJwtSecretFor(registry: IssuerRegistry, maxTokenBytes: number, options?: PassportJwtSecretOptions): PassportJwtSecretProvider {
  const pinned = checkJwksRsaOptions('passportJwtSecret', options, ['handleSigningKeyError'], registry);
  const onError = options?.handleSigningKeyError;
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError('passportJwtSecret: handleSigningKeyError must be a function');
  }
  return (_request, rawJwtToken, done) => {
    const fail = (err: unknown): void => {
      if (onError === undefined) return done(err);
      onError(err instanceof Error ? err : new Error(String(err)), (next) => done(next));
    };
    let alg: string;
    let held: readonly VerificationKey[] | undefined;
    let resolve: () => Promise<readonly VerificationKey[]>;
    try {
      if (typeof rawJwtToken !== 'string') throw new TokenMalformedError('token is not a string');
      const jws = parseJws(rawJwtToken, maxTokenBytes, registry.algorithms);
      alg = jws.alg;
      const iss = decodeClaims(jws).iss;
      // Read without trust, only to choose among the configured issuers: jsonwebtoken checks it after.
      const route = pinned === undefined || iss === pinned ? registry.route(iss) : undefined;
      if (route === undefined) throw new IssuerMismatchError(`token issuer is not ${pinned === undefined ? registry.describe() : `the issuer of this jwksUri (${JSON.stringify(pinned)})`}`);
      if (!route.algorithms.has(alg)) throw new AlgorithmNotAllowedError(`algorithm ${JSON.stringify(alg)} is not accepted for this issuer`);
      const keys = route.keys;
      const kid = jws.kid;
      held = keys.peekKeys(kid, alg);
      resolve = () => keys.resolveKeys(kid, alg);
    } catch (err) {
      return fail(err);
    }
    if (held !== undefined) return deliver(held, alg, done, fail);
    resolve().then((keys) => deliver(keys, alg, done, fail), fail);
  };
}

function deliver(candidates: readonly VerificationKey[], alg: string, done: (err: unknown, key?: string | Buffer) => void, fail: (err: unknown) => void): void {
  // Under one kid an IdP may publish a few keys (see JWKS_LIMITS.maxKeysPerKid): the first that can verify the algorithm.
  const key = candidates.find((k) => k.verifiers.has(alg));
  if (key === undefined) return fail(new KeyNotFoundError('no key in the set matches the token'));
  // jsonwebtoken 9 (passport-jwt 4's) takes a KeyObject: no PEM to build here, none to parse there.
  done(null, key.keyObject as unknown as string);
}
