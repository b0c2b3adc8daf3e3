import { constants, createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { CLIENT_CREDENTIALS_DEFAULTS } from '../jwks-auth.constants.js';

/** How the client proves who it is to the token endpoint (RFC 6749 §2.3.1, RFC 7523 §2.2). */
export type ClientAuthenticationMethod = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt';

/** Algorithms a `private_key_jwt` assertion may be signed with. */
export type AssertionAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** What a request carries to authenticate: extra form members and headers. */
export interface ClientAuthenticationParts {
  form: Record<string, string>;
  headers: Record<string, string>;
}

/** A client authentication ready to use: built once from the options, applied per request. */
export interface ClientAuthenticator {
  readonly method: ClientAuthenticationMethod;
  /** The form members and headers of one request to `tokenEndpoint` at `nowMs`. */
  parts(tokenEndpoint: string, nowMs: number): ClientAuthenticationParts;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 6749 §2.3.1: id and secret are form-urlencoded (application/x-www-form-urlencoded, Appendix B) before Basic. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
}

/** `client_secret_post` or `client_secret_basic`. The secret lives only in this closure. */
export function secretAuthenticator(method: 'client_secret_post' | 'client_secret_basic', clientId: string, clientSecret: string): ClientAuthenticator {
  if (method === 'client_secret_post') {
    return { method, parts: () => ({ form: { client_id: clientId, client_secret: clientSecret }, headers: {} }) };
  }
  const basic = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
  return { method, parts: () => ({ form: {}, headers: { authorization: basic } }) };
}

/** Key input of `private_key_jwt`: a PEM string, a `KeyObject` or a private JWK. */
export type PrivateKeyInput = string | KeyObject | JsonWebKey;

/** Turns the configured key into a private `KeyObject`; the error never includes the key. */
export function privateKeyObject(input: PrivateKeyInput): KeyObject {
  if (typeof input === 'object' && input !== null && 'asymmetricKeyType' in input && typeof (input as KeyObject).export === 'function') {
    const key = input as KeyObject;
    if (key.type !== 'private') throw new Error('privateKey is a public or secret KeyObject; a private key is needed');
    return key;
  }
  try {
    return typeof input === 'string' ? createPrivateKey(input) : createPrivateKey({ key: input as JsonWebKey, format: 'jwk' });
  } catch {
    throw new Error('privateKey could not be read as a PEM private key or a private JWK');
  }
}

const HASH: Record<AssertionAlgorithm, string | null> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', PS256: 'sha256', PS384: 'sha384', PS512: 'sha512', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', EdDSA: null,
};
const PSS_ALG: Record<string, AssertionAlgorithm | undefined> = { sha256: 'PS256', sha384: 'PS384', sha512: 'PS512' };
const CURVE_ALG: Record<string, AssertionAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** The algorithm a key signs with when none is configured: RS256 for RSA, the curve's ES* for EC, EdDSA for Ed25519. */
export function defaultAlgorithm(key: KeyObject): AssertionAlgorithm | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  // An RSA-PSS key may be restricted to one hash: its PS* then, or it could not sign at all.
  if (type === 'rsa-pss') return PSS_ALG[key.asymmetricKeyDetails?.hashAlgorithm ?? 'sha256'];
  if (type === 'ec') return CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (type === 'ed25519') return 'EdDSA';
  return undefined;
}

/** Whether `alg` can be signed with `key` (family and curve). */
export function algorithmFits(alg: AssertionAlgorithm, key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa';
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss';
  if (alg.startsWith('ES')) return type === 'ec' && CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? ''] === alg;
  return type === 'ed25519';
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a JWT with `iss` = `sub` = the client id,
 * `aud` = `audience` (the token endpoint by default; Auth0 also accepts its issuer URL), a fresh
 * `jti` per request (endpoints refuse a replay), `iat` and a short `exp`, signed with the key.
 */
export function privateKeyJwtAuthenticator(
  clientId: string,
  key: KeyObject,
  options: { algorithm: AssertionAlgorithm; keyId?: string; assertionAudience?: string; lifetimeSec?: number },
): ClientAuthenticator {
  const { algorithm, keyId } = options;
  const lifetime = options.lifetimeSec ?? CLIENT_CREDENTIALS_DEFAULTS.assertionLifetimeSec;
  const hash = HASH[algorithm];
  const params =
    algorithm.startsWith('PS')
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(algorithm.slice(2)) / 8 }
      : algorithm.startsWith('ES')
        ? { dsaEncoding: 'ieee-p1363' as const }
        : {};
  const header = b64url({ alg: algorithm, typ: 'JWT', ...(keyId === undefined ? {} : { kid: keyId }) });
  return {
    method: 'private_key_jwt',
    parts: (tokenEndpoint, nowMs) => {
      const iat = Math.floor(nowMs / 1000);
      const payload = b64url({ iss: clientId, sub: clientId, aud: options.assertionAudience ?? tokenEndpoint, jti: randomUUID(), iat, nbf: iat, exp: iat + lifetime });
      const input = `${header}.${payload}`;
      const signature = sign(hash, Buffer.from(input), { key, ...params });
      return { form: { client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: `${input}.${signature.toString('base64url')}` }, headers: {} };
    },
  };
}
