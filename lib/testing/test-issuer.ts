import { createHash, createPublicKey, generateKeyPairSync, randomUUID, sign, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ALGORITHM_SPECS } from '../verify/algorithms.js';

export type TestKeyAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

interface TestKey {
  kid: string;
  alg: TestKeyAlgorithm;
  privateKey: KeyObject;
  publicJwk: JsonWebKey;
  published: boolean;
}

/** What the JWKS endpoint (or, through `setDiscoveryFault`, a discovery document) should do instead of answering normally. */
export interface TestIssuerFault {
  /** HTTP status to answer with (default 200). */
  status?: number;
  /** Body to send instead of the key set or document (string or JSON value). */
  body?: unknown;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Destroy the connection without answering. */
  reset?: boolean;
  /** Send headers, then one byte of body every `trickleMs` (default 100), never finishing. */
  trickle?: boolean;
  trickleMs?: number;
  /** Send headers, then an endless chunked body as fast as the client reads. */
  endless?: boolean;
  /** Send a body of this many bytes (generated, never held in memory at once). */
  bodyBytes?: number;
}

export interface TestIssuerOptions {
  /** Algorithm of the first key. Default RS256. */
  alg?: TestKeyAlgorithm;
  /** Default audience of signed tokens. */
  audience?: string;
  /** Override the issuer string (default: the server's base URL). */
  issuer?: string;
  /** Send an ETag and answer 304 to a matching If-None-Match. Default true. */
  etag?: boolean;
  /** Headers added to every JWKS response (e.g. Cache-Control). */
  headers?: Record<string, string>;
  /**
   * Where `sign()` takes the time for `iat` and `exp`: pass the app's `FakeClock`, so tokens signed
   * after `clock.advance()` are not expired on it. Default: the real time.
   */
  clock?: { now(): number };
  /**
   * The issuer has a path, as a Keycloak realm does (`'/realms/a'`): `issuer` is then the base URL
   * and this path, without a trailing slash; the documents and the JWKS move under it (the RFC 8414
   * document at `/.well-known/oauth-authorization-server{path}`). Default: no path, `issuer` is the
   * base URL with a trailing slash.
   */
  path?: string;
  /**
   * Which discovery documents are served: the OpenID Connect one
   * (`{issuer}/.well-known/openid-configuration`), the RFC 8414 one, both or none; the others
   * answer 404. Default 'oidc'.
   */
  discovery?: 'oidc' | 'rfc8414' | 'both' | 'none';
  /** `expires_in` of the tokens the token endpoint issues, unless the client has its own. Default 3600. */
  tokenLifetimeSeconds?: number;
}

/** A client the token endpoint (`/oauth/token`) knows: a secret, a public key for `private_key_jwt`, or both. */
export interface TestIssuerClient {
  clientId: string;
  clientSecret?: string;
  /** Verifies `private_key_jwt` assertions: a public KeyObject, PEM or JWK. */
  publicKey?: KeyObject | string | JsonWebKey;
  /** `expires_in` of the tokens issued to this client. Default 3600 (`tokenLifetimeSeconds` of the issuer options wins over none). */
  tokenLifetimeSeconds?: number;
}

/** One request the token endpoint received (what it was, not the credentials). */
export interface TestTokenRequest {
  clientId: string | null;
  method: 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | 'none';
  audience: string | null;
  scope: string | null;
  /** `ok`, or the OAuth error answered, or `fault`. */
  outcome: string;
  /** Epoch ms by the issuer's clock. */
  at: number;
}

export interface SignOptions {
  kid?: string | null;
  alg?: string;
  /** Extra or overriding header members. */
  header?: Record<string, unknown>;
  /** Lifetime in seconds (default 300); ignored when claims carry `exp`. */
  expiresInSec?: number;
}

const CURVES: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
/** Longest a client assertion may live (from now and from its iat), as IdPs bound it: five minutes. */
const ASSERTION_MAX_LIFETIME_SEC = 300;
/** Clock skew allowed for an assertion's iat and nbf. */
const ASSERTION_SKEW_SEC = 60;
const NAMED_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** Whether a JWS alg is the registered key's: RS* on RSA, PS* on RSA or RSA-PSS, ES* on its own curve, EdDSA on Ed25519/Ed448. */
function algorithmFitsKey(alg: string, key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa';
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss';
  if (alg.startsWith('ES')) return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === NAMED_CURVES[alg];
  return alg === 'EdDSA' && (type === 'ed25519' || type === 'ed448');
}

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/**
 * A real OIDC-style issuer for tests and local development: serves a JWKS over HTTP on
 * 127.0.0.1 (random port), signs tokens, rotates keys, counts requests and injects faults.
 *
 * ```ts
 * const issuer = await TestIssuer.start();
 * const token = issuer.sign({ sub: 'alice' });
 * ```
 */
export class TestIssuer {
  readonly audience: string;
  /** Number of requests the JWKS endpoint received. */
  requestCount = 0;
  /** Number of requests to either discovery document location, served or not. */
  discoveryRequestCount = 0;
  /** Number of 304 answers sent. */
  notModifiedCount = 0;
  /** Body bytes written by streamed (hostile) responses: shows how much a client read before giving up. */
  streamedBytes = 0;
  /** Number of requests the token endpoint received, answered or faulted. */
  tokenRequestCount = 0;
  /** The token endpoint's requests, oldest first (the last 1,000). */
  readonly tokenRequests: TestTokenRequest[] = [];
  /** Access tokens issued, oldest first (the last 1,000): lets a test look for them where they must not be. */
  readonly issuedTokens: string[] = [];
  private readonly clients = new Map<string, { secret?: string; publicKey?: KeyObject; lifetime: number }>();
  private readonly seenJtis = new Set<string>();
  private tokenFault: TestIssuerFault | null = null;
  private tokenFaultQueue: TestIssuerFault[] = [];
  private readonly keys = new Map<string, TestKey>();
  private currentKid = '';
  private fault: TestIssuerFault | null = null;
  private faultQueue: TestIssuerFault[] = [];
  private discoveryFault: TestIssuerFault | null = null;
  private discoveryFaultQueue: TestIssuerFault[] = [];
  /** The issuer's path without a trailing slash; '' when it has none. */
  private readonly path: string;
  /** Where the JWKS is served (`moveJwks()` changes it). */
  private jwksPath: string;
  private readonly server: Server;
  private baseUrl = '';
  private issuerOverride: string | undefined;

  private constructor(private readonly options: TestIssuerOptions) {
    this.audience = options.audience ?? 'https://api.example.test';
    this.issuerOverride = options.issuer;
    const path = (options.path ?? '').replace(/\/+$/, '');
    this.path = path === '' || path.startsWith('/') ? path : `/${path}`;
    this.jwksPath = `${this.path}/.well-known/jwks.json`;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(options: TestIssuerOptions = {}): Promise<TestIssuer> {
    const issuer = new TestIssuer(options);
    issuer.addKey({ alg: options.alg ?? 'RS256' });
    await new Promise<void>((resolve) => issuer.server.listen(0, '127.0.0.1', resolve));
    const { port } = issuer.server.address() as AddressInfo;
    issuer.baseUrl = `http://127.0.0.1:${port}`;
    return issuer;
  }

  get issuer(): string {
    return this.issuerOverride ?? (this.path ? `${this.baseUrl}${this.path}` : `${this.baseUrl}/`);
  }

  get jwksUri(): string {
    return `${this.baseUrl}${this.jwksPath}`;
  }

  /** The OAuth token endpoint (client credentials grant): `{issuer}/oauth/token`, advertised as `token_endpoint`. */
  get tokenEndpoint(): string {
    return `${this.baseUrl}${this.path}/oauth/token`;
  }

  /**
   * Registers a client of the token endpoint: with `clientSecret` it may authenticate with
   * `client_secret_post` or `client_secret_basic`; with `publicKey`, with `private_key_jwt`
   * (signature, `iss`/`sub`, `aud` = the token endpoint or the issuer, `exp`, and a `jti` never
   * seen before are checked). Issued tokens are JWTs signed with this issuer's key, so a
   * `JwksAuthModule` on this issuer verifies them.
   */
  addClient(client: TestIssuerClient): void {
    const publicKey =
      client.publicKey === undefined
        ? undefined
        : typeof client.publicKey === 'string'
          ? createPublicKey(client.publicKey)
          : 'asymmetricKeyType' in client.publicKey && typeof (client.publicKey as KeyObject).export === 'function'
            ? (client.publicKey as KeyObject).type === 'public'
              ? (client.publicKey as KeyObject)
              : createPublicKey(client.publicKey as KeyObject)
            : createPublicKey({ key: client.publicKey as JsonWebKey, format: 'jwk' });
    this.clients.set(client.clientId, { secret: client.clientSecret, publicKey, lifetime: client.tokenLifetimeSeconds ?? this.options.tokenLifetimeSeconds ?? 3600 });
  }

  /** Changes the lifetime of the tokens issued to a registered client. */
  setTokenLifetime(clientId: string, seconds: number): void {
    const client = this.clients.get(clientId);
    if (client) client.lifetime = seconds;
  }

  /** Answer every following token request this way until `clearTokenFault()` (a 429 with `Retry-After`, a 503, a slow or garbage answer). */
  setTokenFault(fault: TestIssuerFault): void {
    this.tokenFault = fault;
  }

  /** Answer the next token requests with these, one each, then normally (or the standing fault) again. */
  queueTokenFaults(...faults: TestIssuerFault[]): void {
    this.tokenFaultQueue.push(...faults);
  }

  clearTokenFault(): void {
    this.tokenFault = null;
    this.tokenFaultQueue = [];
  }

  /**
   * Serve the JWKS at another path of this host from now on, as when an IdP moves its keys: the
   * old path answers 404 and the discovery document names the new location.
   */
  moveJwks(path: string): void {
    this.jwksPath = path.startsWith('/') ? path : `/${path}`;
  }

  /**
   * The discovery document as served by default: the members OpenID Connect Discovery requires
   * that this issuer has (no authorization endpoint), with the algorithms of its keys, and its
   * client-credentials token endpoint (`token_endpoint`).
   */
  discoveryDocument(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: this.jwksUri,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [...new Set([...this.keys.values()].filter((k) => k.published).map((k) => k.alg))],
      token_endpoint: this.tokenEndpoint,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'private_key_jwt'],
      grant_types_supported: ['client_credentials'],
    };
  }

  /** The kid new tokens are signed with. */
  get kid(): string {
    return this.currentKid;
  }

  /** Kids currently published in the JWKS. */
  publishedKids(): string[] {
    return [...this.keys.values()].filter((k) => k.published).map((k) => k.kid);
  }

  /** Generates a key; published in the JWKS unless `publish: false`. Becomes the signing key when it is the first. */
  addKey(opts: { alg?: TestKeyAlgorithm; kid?: string; publish?: boolean } = {}): string {
    const alg = opts.alg ?? 'RS256';
    const kid = opts.kid ?? randomUUID();
    const spec = ALGORITHM_SPECS[alg];
    const pair =
      spec.kty === 'RSA'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : spec.kty === 'EC'
          ? generateKeyPairSync('ec', { namedCurve: CURVES[alg] })
          : generateKeyPairSync('ed25519');
    const publicJwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
    this.keys.set(kid, { kid, alg, privateKey: pair.privateKey, publicJwk, published: opts.publish ?? true });
    if (!this.currentKid) this.currentKid = kid;
    return kid;
  }

  /** Publishes a new key and signs with it from now on; the old key stays published unless `removeOld`. */
  rotate(opts: { alg?: TestKeyAlgorithm; removeOld?: boolean } = {}): string {
    const old = this.currentKid;
    const kid = this.addKey({ alg: opts.alg ?? this.keys.get(old)?.alg });
    this.currentKid = kid;
    if (opts.removeOld) this.removeKey(old);
    return kid;
  }

  /** Stops publishing a key (a revocation); tokens can still be signed with it. */
  removeKey(kid: string): void {
    const key = this.keys.get(kid);
    if (key) key.published = false;
  }

  publish(kid: string): void {
    const key = this.keys.get(kid);
    if (key) key.published = true;
  }

  /** The public JWK of a key. */
  publicJwk(kid = this.currentKid): JsonWebKey {
    const key = this.keys.get(kid);
    if (!key) throw new Error(`no test key ${kid}`);
    return { ...key.publicJwk };
  }

  /** The JWKS document as served. */
  jwks(): { keys: JsonWebKey[] } {
    return { keys: [...this.keys.values()].filter((k) => k.published).map((k) => k.publicJwk) };
  }

  /**
   * Signs a token. Defaults: `iss` = this issuer, `aud` = `audience`, `sub` = 'test-user',
   * `iat` now, `exp` in 5 minutes, header `{ alg, typ: 'JWT', kid }`.
   * `kid: null` omits the kid; `header` adds or overrides header members.
   */
  sign(claims: Record<string, unknown> = {}, opts: SignOptions = {}): string {
    const kid = opts.kid === null ? this.currentKid : (opts.kid ?? this.currentKid);
    const key = this.keys.get(kid);
    if (!key) throw new Error(`no test key ${kid}`);
    const now = Math.floor((this.options.clock?.now() ?? Date.now()) / 1000);
    const payload = {
      iss: this.issuer,
      aud: this.audience,
      sub: 'test-user',
      iat: now,
      exp: now + (opts.expiresInSec ?? 300),
      ...claims,
    };
    const header: Record<string, unknown> = { alg: opts.alg ?? key.alg, typ: 'JWT', ...(opts.kid === null ? {} : { kid }), ...opts.header };
    const input = `${b64url(header)}.${b64url(payload)}`;
    const spec = ALGORITHM_SPECS[key.alg];
    const signature = sign(spec.hash, Buffer.from(input), { key: key.privateKey, ...spec.params });
    return `${input}.${signature.toString('base64url')}`;
  }

  /** Answer every following request this way until `clearFault()`. */
  setFault(fault: TestIssuerFault): void {
    this.fault = fault;
  }

  /** Answer the next requests with these, one each, then normally again. */
  queueFaults(...faults: TestIssuerFault[]): void {
    this.faultQueue.push(...faults);
  }

  clearFault(): void {
    this.fault = null;
    this.faultQueue = [];
  }

  /**
   * Answer every following request for a served discovery document this way (an unserved one
   * still answers 404); `null` clears it and the queue. JWKS faults are separate.
   */
  setDiscoveryFault(fault: TestIssuerFault | null): void {
    this.discoveryFault = fault;
    if (fault === null) this.discoveryFaultQueue = [];
  }

  /** Answer the next discovery document requests with these, one each, then normally (or the standing fault) again. */
  queueDiscoveryFaults(...faults: TestIssuerFault[]): void {
    this.discoveryFaultQueue.push(...faults);
  }

  resetCounts(): void {
    this.tokenRequestCount = 0;
    this.tokenRequests.length = 0;
    this.requestCount = 0;
    this.notModifiedCount = 0;
    this.discoveryRequestCount = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Hostile bodies: slow, endless or huge, written chunk by chunk with back-pressure. */
  private stream(res: ServerResponse, fault: TestIssuerFault): void {
    res.writeHead(fault.status ?? 200, { 'content-type': 'application/json', ...fault.headers });
    res.write('{"keys":[');
    if (fault.trickle) {
      const timer = setInterval(() => {
        this.streamedBytes++;
        res.write(' ');
      }, fault.trickleMs ?? 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let left = fault.bodyBytes ?? Infinity;
    const pump = () => {
      while (left > 0 && !res.destroyed) {
        const n = Math.min(chunk.length, left);
        left -= n;
        this.streamedBytes += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end(']}');
    };
    pump();
  }

  /** Stop accepting connections (the port refuses) until `resume()`. */
  async pause(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listen again on the same port after `pause()`. */
  async resume(): Promise<void> {
    const port = Number(new URL(this.baseUrl).port);
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  /** Which discovery document a request path asks for, if any. */
  private discoveryDocumentAt(path: string): 'oidc' | 'rfc8414' | null {
    if (path === `${this.path}/.well-known/openid-configuration`) return 'oidc';
    if (path === `/.well-known/oauth-authorization-server${this.path}`) return 'rfc8414';
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const document = this.discoveryDocumentAt(path);
    if (document) {
      this.discoveryRequestCount++;
      const served = this.options.discovery ?? 'oidc';
      if (served !== 'both' && served !== document) {
        res.statusCode = 404;
        res.end();
        return;
      }
      const fault = this.discoveryFaultQueue.shift() ?? this.discoveryFault;
      this.answer(req, res, fault, () => JSON.stringify(this.discoveryDocument()), {}, false);
      return;
    }
    if (path === `${this.path}/oauth/token`) {
      this.handleToken(req, res);
      return;
    }
    if (path !== this.jwksPath) {
      res.statusCode = 404;
      res.end();
      return;
    }
    this.requestCount++;
    const fault = this.faultQueue.shift() ?? this.fault;
    this.answer(req, res, fault, () => JSON.stringify(this.jwks()), this.options.headers, this.options.etag !== false);
  }

  /** The token endpoint: reads the form (at most 64 KiB), then answers with a fault, an OAuth error or a token. */
  private handleToken(req: IncomingMessage, res: ServerResponse): void {
    this.tokenRequestCount++;
    const fault = this.tokenFaultQueue.shift() ?? this.tokenFault;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 64 * 1024) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const now = this.options.clock?.now() ?? Date.now();
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const record: TestTokenRequest = { clientId: null, method: 'none', audience: form.get('audience'), scope: form.get('scope'), outcome: 'fault', at: now };
      if (this.tokenRequests.length >= 1000) this.tokenRequests.shift();
      this.tokenRequests.push(record);
      if (fault) {
        this.answer(req, res, fault, () => '{}', {}, false);
        return;
      }
      const refuse = (status: number, error: string, description: string) => {
        record.outcome = error;
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ error, error_description: description }));
      };
      if (req.method !== 'POST') return refuse(405, 'invalid_request', 'POST only');
      if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return refuse(400, 'invalid_request', 'form body required');
      if (form.get('grant_type') !== 'client_credentials') return refuse(400, 'unsupported_grant_type', 'client_credentials only');
      const who = this.authenticateClient(req, form, now, record);
      if (typeof who === 'string') return refuse(401, 'invalid_client', who);
      const scope = form.get('scope');
      const lifetime = who.lifetime;
      const token = this.sign(
        { sub: `${record.clientId}@clients`, azp: record.clientId, gty: 'client-credentials', aud: form.get('audience') ?? this.audience, jti: randomUUID(), ...(scope ? { scope } : {}) },
        { expiresInSec: lifetime },
      );
      if (this.issuedTokens.length >= 1000) this.issuedTokens.shift();
      this.issuedTokens.push(token);
      record.outcome = 'ok';
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: lifetime, ...(scope ? { scope } : {}) }));
    });
  }

  /** The client a token request authenticates as, by exactly one method; or why it is refused. */
  private authenticateClient(req: IncomingMessage, form: URLSearchParams, now: number, record: TestTokenRequest): { lifetime: number } | string {
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    const methods = [basic !== null, form.has('client_secret'), form.has('client_assertion')].filter(Boolean).length;
    if (methods !== 1) return 'exactly one client authentication method is required';
    if (basic) {
      record.method = 'client_secret_basic';
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return 'malformed Basic credentials';
      // RFC 6749 §2.3.1: both parts are form-urlencoded.
      const formDecode = (v: string) => decodeURIComponent(v.replace(/\+/g, ' '));
      let id: string;
      let secret: string;
      try {
        id = formDecode(decoded.slice(0, colon));
        secret = formDecode(decoded.slice(colon + 1));
      } catch {
        return 'malformed Basic credentials';
      }
      record.clientId = id;
      return this.checkSecret(id, secret);
    }
    if (form.has('client_secret')) {
      record.method = 'client_secret_post';
      record.clientId = form.get('client_id');
      return this.checkSecret(form.get('client_id') ?? '', form.get('client_secret') ?? '');
    }
    record.method = 'private_key_jwt';
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return 'wrong client_assertion_type';
    return this.checkAssertion(form.get('client_assertion') ?? '', form.get('client_id'), now, record);
  }

  private checkSecret(clientId: string, secret: string): { lifetime: number } | string {
    const client = this.clients.get(clientId);
    if (!client?.secret) return 'unknown client';
    const a = createHash('sha256').update(secret).digest();
    const b = createHash('sha256').update(client.secret).digest();
    return timingSafeEqual(a, b) ? { lifetime: client.lifetime } : 'wrong client secret';
  }

  /** RFC 7523 §3: signature, iss = sub = client, aud names us, unexpired, short-lived, jti never seen. */
  private checkAssertion(assertion: string, formClientId: string | null, now: number, record: TestTokenRequest): { lifetime: number } | string {
    const parts = assertion.split('.');
    if (parts.length !== 3) return 'malformed assertion';
    let header: { alg?: string };
    let claims: { iss?: unknown; sub?: unknown; aud?: unknown; exp?: unknown; iat?: unknown; nbf?: unknown; jti?: unknown };
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return 'malformed assertion';
    }
    if (typeof claims.iss !== 'string' || claims.iss !== claims.sub) return 'assertion iss and sub must be the client id';
    if (formClientId !== null && formClientId !== claims.iss) return 'client_id does not match the assertion';
    record.clientId = claims.iss;
    const client = this.clients.get(claims.iss);
    if (!client?.publicKey) return 'unknown client or no key registered';
    const spec = ALGORITHM_SPECS[header.alg ?? ''];
    if (!spec) return 'unsupported assertion alg';
    // The header's alg must be the key's own: Node would check an ECDSA signature under "RS256" with an EC key (alg confusion).
    if (!algorithmFitsKey(header.alg as string, client.publicKey)) return 'assertion alg does not fit the registered key';
    let valid = false;
    try {
      valid = verify(spec.hash, Buffer.from(`${parts[0]}.${parts[1]}`), { key: client.publicKey, ...spec.params }, Buffer.from(parts[2], 'base64url'));
    } catch {
      valid = false;
    }
    if (!valid) return 'assertion signature invalid';
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.some((a) => a === this.tokenEndpoint || a === this.issuer)) return 'assertion aud must be the token endpoint or the issuer';
    const nowSec = Math.floor(now / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= nowSec) return 'assertion expired';
    // RFC 7523 §3: short-lived. Bounded from now, not only from iat (which is optional and the client's to choose).
    if (claims.exp - nowSec > ASSERTION_MAX_LIFETIME_SEC || (typeof claims.iat === 'number' && claims.exp - claims.iat > ASSERTION_MAX_LIFETIME_SEC)) return 'assertion lives too long';
    if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat > nowSec + ASSERTION_SKEW_SEC)) return 'assertion iat is in the future';
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowSec + ASSERTION_SKEW_SEC)) return 'assertion not yet valid (nbf)';
    if (typeof claims.jti !== 'string' || claims.jti === '') return 'assertion has no jti';
    if (this.seenJtis.has(claims.jti)) return 'assertion jti replayed';
    this.seenJtis.add(claims.jti);
    return { lifetime: client.lifetime };
  }

  /** Answers normally with `body()` (built when the answer is sent), or as the fault says. */
  private answer(
    req: IncomingMessage,
    res: ServerResponse,
    fault: TestIssuerFault | null,
    body: () => string,
    extraHeaders: Record<string, string> | undefined,
    etag: boolean,
  ): void {
    const respond = () => {
      if (fault?.reset) {
        req.socket.destroy();
        return;
      }
      if (fault?.trickle || fault?.endless || fault?.bodyBytes !== undefined) {
        this.stream(res, fault);
        return;
      }
      const text = fault?.body === undefined ? body() : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
      const headers: Record<string, string> = { 'content-type': 'application/json', ...extraHeaders, ...fault?.headers };
      const status = fault?.status ?? 200;
      if (status === 200 && etag) {
        const tag = `"${createHash('sha256').update(text).digest('base64url').slice(0, 16)}"`;
        headers.etag = tag;
        if (req.headers['if-none-match'] === tag) {
          this.notModifiedCount++;
          res.writeHead(304, headers);
          res.end();
          return;
        }
      }
      res.writeHead(status, headers);
      res.end(text);
    };
    if (fault?.delayMs) {
      const timer = setTimeout(respond, fault.delayMs);
      res.on('close', () => clearTimeout(timer));
    } else respond();
  }
}
