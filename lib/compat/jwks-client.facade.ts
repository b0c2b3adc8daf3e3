import { JwksArgumentError, KeyNotFoundError } from '../errors/jwks.errors.js';
import type { IssuerRegistry } from '../issuers/issuer.registry.js';
import type { VerificationKey } from '../verify/jwk-set.parser.js';
import { SAFE_KID } from '../verify/kid.js';
import { checkJwksRsaOptions, type JwksRsaTuningOptions } from './jwks-rsa.options.js';

/** Options of `JwksCacheService.jwksClient()`: jwks-rsa's, tuning ignored, plus the issuer to serve. */
export interface JwksClientOptions extends JwksRsaTuningOptions {
  /** The issuer (its exact `iss`) whose keys to serve; alternatively its `jwksUri`. Optional with one issuer. */
  issuer?: string;
}

/**
 * One key as jwks-rsa's `SigningKey` has it: `publicKey` and `rsaPublicKey` are the same SPKI PEM
 * (jwks-rsa sets one or the other; code reading `key.publicKey || key.rsaPublicKey` works).
 */
export interface JwksSigningKey {
  /** The JWK's `kid`; '' for a key published without one. */
  readonly kid: string;
  /** The first configured algorithm this key verifies (jwks-rsa gives the JWK's `alg`). */
  readonly alg: string;
  getPublicKey(): string;
  readonly publicKey: string;
  readonly rsaPublicKey: string;
}

/** Built once per key of a parsed set (the set is reparsed only when it changes). */
const signingKeys = new WeakMap<VerificationKey, JwksSigningKey>();

function toSigningKey(key: VerificationKey): JwksSigningKey {
  let found = signingKeys.get(key);
  if (found === undefined) {
    const pem = key.keyObject.export({ type: 'spki', format: 'pem' }) as string;
    found = Object.freeze({ kid: key.kid ?? '', alg: key.verifiers.keys().next().value ?? '', getPublicKey: () => pem, publicKey: pem, rsaPublicKey: pem });
    signingKeys.set(key, found);
  }
  return found;
}

/**
 * jwks-rsa's `JwksClient`, served by one issuer's key set of the module: a cached key resolves
 * without I/O; an unknown kid refetches at most once per cooldown (one shared fetch), and the last
 * good set serves through an outage. For code written against jwks-rsa (`client.getSigningKey(kid)`).
 */
export class JwksClientFacade {
  /** @internal */
  constructor(
    private readonly registry: IssuerRegistry,
    private readonly issuer: string | undefined,
  ) {}

  /** The public keys of the set as JWKs (`kid`, `kty`, key members): jwks-rsa's `getKeys()`. */
  async getKeys(): Promise<unknown> {
    const keys = await this.registry.source(this.issuer).allKeys();
    return keys.map((k) => ({ ...(k.kid === undefined ? {} : { kid: k.kid }), ...k.keyObject.export({ format: 'jwk' }) }));
  }

  /** Every key of the set. */
  async getSigningKeys(): Promise<JwksSigningKey[]> {
    const keys = await this.registry.source(this.issuer).allKeys();
    return keys.map(toSigningKey);
  }

  /**
   * The key with this `kid`; without one, the only key of the set (refused when it holds several).
   * @throws KeyNotFoundError, KeyCoolingDownError, KeySetUnavailableError, ... (as the verifier's lookups)
   */
  getSigningKey(kid?: string | null): Promise<JwksSigningKey>;
  getSigningKey(kid: string | null | undefined, cb: (err: Error | null, key?: JwksSigningKey) => void): void;
  getSigningKey(kid?: string | null, cb?: (err: Error | null, key?: JwksSigningKey) => void): Promise<JwksSigningKey> | void {
    const found = this.lookup(kid);
    if (cb === undefined) return found;
    found.then(
      (key) => cb(null, key),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private async lookup(kid: string | null | undefined): Promise<JwksSigningKey> {
    const source = this.registry.source(this.issuer);
    if (kid === undefined || kid === null) {
      const keys = await source.allKeys();
      if (keys.length !== 1) throw new KeyNotFoundError(`no kid given and the set holds ${keys.length} keys: pass the token's kid`);
      return toSigningKey(keys[0]);
    }
    // The kid reaches the cache's bookkeeping: only key ids a JWKS could hold (never logged raw).
    if (typeof kid !== 'string' || !SAFE_KID.test(kid)) throw new JwksArgumentError('getSigningKey(kid): kid must be a short key id of safe characters');
    const keys = await source.resolveKeys(kid, undefined);
    return toSigningKey(keys[0]);
  }
}

/** Builds the facade for `JwksCacheService.jwksClient()`. */
export function jwksClientFor(registry: IssuerRegistry, options?: JwksClientOptions): JwksClientFacade {
  const pinned = checkJwksRsaOptions('jwksClient', options, ['issuer'], registry);
  const issuer = options?.issuer;
  // With several issuers and none named, refused now (listing them) rather than at the first lookup.
  if (issuer === undefined && pinned === undefined) registry.source();
  if (issuer !== undefined) {
    // Fails now, with the configured issuers listed, rather than at the first lookup.
    registry.source(issuer);
    if (pinned !== undefined && pinned !== issuer) throw new JwksArgumentError(`jwksClient: jwksUri is the issuer ${JSON.stringify(pinned)}'s, not ${JSON.stringify(issuer)}'s`);
  }
  return new JwksClientFacade(registry, issuer ?? pinned);
}
