import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { JWKS_CLOCK, JWKS_EVENT_LISTENERS, JWKS_RESOLVED_OPTIONS, REFUSAL_LOG_WINDOW_MS, WEBHOOK_DEFAULTS } from '../jwks-auth.constants.js';
import type { JwksAuthEvent, JwksAuthEventListener, WebhookRefusalReason } from '../events/jwks-auth.events.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { Clock } from '../cache/clock.js';
import { JwksCacheService } from '../services/jwks-cache.service.js';
import { JwksArgumentError, JwksRefreshDeferredError } from '../errors/jwks.errors.js';
import { SAFE_KID } from '../verify/kid.js';
import { kidFingerprint } from '../events/kid.fingerprint.js';
import type { ResolvedWebhookOptions } from './webhook.options.js';
import { verifyWebhookSignature, WebhookReplayGuard } from './webhook.signature.js';
import { parseWebhookNotice } from './webhook-notice.parser.js';
import { parseAuth0LogStream } from './auth0-log-stream.parser.js';
import { dedupeActions, WebhookBodyError, type WebhookAction } from './webhook.action.js';
import { WebhookSenderLimiter } from './webhook-sender.limiter.js';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

const SOURCE_LABELS = { 'signed-notice': 'signed notice', 'auth0-log-stream': 'Auth0 log stream' } as const;

/** A SHA-256 digest, so a constant-time compare needs no equal lengths and leaks none. */
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The rotation webhook. It answers before the framework does: it sits in front of the HTTP
 * server's request listener and takes only `POST <webhook.path>`, so it reads the raw body itself
 * (the HMAC is over the exact bytes) on Express and Fastify alike, with no `rawBody: true` and no
 * body parser in the way, and no global guard or pipe of the app applies to it (it authenticates
 * by its own signature). Every other request goes to the app untouched. With `forRootAsync` the
 * options are known only at runtime, so this provider is always registered and does nothing
 * without `webhook`.
 */
@Injectable()
export class JwksWebhook implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('JwksAuthWebhook');
  private readonly options: ResolvedWebhookOptions | null;
  private readonly replay = new WebhookReplayGuard();
  private readonly expectedAuthorization: Buffer | null;
  private server: Server | null = null;
  private wrapped: RequestListener[] = [];
  private ours: RequestListener | null = null;
  private refusals = { windowStart: 0, count: 0 };
  private readonly senders = new WebhookSenderLimiter();

  constructor(
    @Inject(JWKS_RESOLVED_OPTIONS) options: ResolvedJwksOptions,
    private readonly cache: JwksCacheService,
    @Inject(JWKS_CLOCK) private readonly clock: Clock,
    private readonly adapterHost: HttpAdapterHost,
    @Inject(JWKS_EVENT_LISTENERS) private readonly listeners: readonly JwksAuthEventListener[],
  ) {
    this.options = options.webhook ?? null;
    this.expectedAuthorization = this.options?.auth0 ? digest(this.options.auth0.authorization) : null;
  }

  onApplicationBootstrap(): void {
    if (this.options === null) return;
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (server === undefined || typeof server.listeners !== 'function') {
      this.logger.warn(`webhook is set but the app has no HTTP server: ${this.options.path} is not served`);
      return;
    }
    const path = this.options.path;
    this.wrapped = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    const wrapped = this.wrapped;
    this.ours = (req, res) => {
      const url = req.url ?? '';
      // One comparison for every other request: the app's path is not made slower.
      if (url.startsWith(path) && (url.length === path.length || url[path.length] === '?')) {
        this.handle(req, res);
        return;
      }
      for (const listener of wrapped) listener.call(server, req, res);
    };
    server.on('request', this.ours);
    this.server = server;
  }

  onApplicationShutdown(): void {
    if (this.server === null || this.ours === null) return;
    this.server.removeListener('request', this.ours);
    for (const listener of this.wrapped) this.server.on('request', listener);
    this.server = null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') return reply(res, 405, 'Method Not Allowed', { allow: 'POST' });
    // A sender refused too often lately waits, unless this request may be authenticated: behind a
    // proxy every sender shares one address, and a guesser's few requests a minute must not keep
    // the real sender's revocation out. A request with neither credential is answered before its
    // body is read; a signed one is read (same size cap) and verified, and is 429 if it fails.
    const waitMs = this.senders.blockedFor(sender(req), this.clock.now());
    if (waitMs > 0 && !this.mayAuthenticate(req)) return this.limited(req, res, waitMs);
    const max = WEBHOOK_DEFAULTS.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return waitMs > 0 ? this.limited(req, res, waitMs) : this.tooLarge(req, res);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        if (waitMs > 0) this.limited(req, res, waitMs);
        else this.tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      this.process(req, res, Buffer.concat(chunks, size), waitMs);
    });
    req.on('error', () => {
      done = true;
      res.destroy();
    });
  }

  /**
   * Whether a request could pass authentication, from its headers alone: the Auth0 Authorization
   * is compared here (constant time); a signature can be checked only against the body.
   */
  private mayAuthenticate(req: IncomingMessage): boolean {
    const signature = req.headers['x-jwks-signature'];
    if (signature !== undefined) return this.options?.secret != null;
    const authorization = req.headers.authorization;
    return this.expectedAuthorization !== null && typeof authorization === 'string' && timingSafeEqual(digest(authorization), this.expectedAuthorization);
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.refused(req, 413, 'oversized', 'body over the size limit');
    // The rest of the body is not read: the connection is closed after the answer.
    reply(res, 413, 'Payload Too Large', { connection: 'close' });
    req.resume();
  }

  /** 429 to a sender over its refusal limit (not counted again: the window is not extended). */
  private limited(req: IncomingMessage, res: ServerResponse, waitMs: number): void {
    this.emit({ type: 'webhook-refused', status: 429, reason: 'rate-limited', issuer: '' });
    this.logRefusal('requests from a sender refused too often lately are answered 429');
    reply(res, 429, 'Too Many Requests', { 'retry-after': String(Math.ceil(waitMs / 1000)), connection: 'close' });
    req.resume();
  }

  private process(req: IncomingMessage, res: ServerResponse, body: Buffer, waitMs: number): void {
    const options = this.options as ResolvedWebhookOptions;
    const signature = req.headers['x-jwks-signature'];
    let actions: WebhookAction[];
    let source: 'signed-notice' | 'auth0-log-stream';
    try {
      if (signature !== undefined && options.secret !== null) {
        const result = verifyWebhookSignature({ header: signature, body, secret: options.secret, nowSec: Math.floor(this.clock.now() / 1000), replay: this.replay });
        if (!result.ok) return this.unauthorized(req, res, waitMs, result.reason, `signed notice refused (${result.reason})`);
        actions = [parseWebhookNotice(body)];
        source = 'signed-notice';
      } else if (signature === undefined && this.expectedAuthorization !== null && typeof req.headers.authorization === 'string') {
        if (!timingSafeEqual(digest(req.headers.authorization), this.expectedAuthorization)) return this.unauthorized(req, res, waitMs, 'authorization', 'Auth0 log stream refused (authorization does not match)');
        actions = dedupeActions(parseAuth0LogStream(body, options.auth0?.issuer));
        source = 'auth0-log-stream';
      } else {
        return this.unauthorized(req, res, waitMs, 'no-credentials', 'no x-jwks-signature or Authorization this webhook accepts');
      }
      this.act(actions, source);
    } catch (err) {
      if (err instanceof WebhookBodyError) {
        this.emit({ type: 'webhook-refused', status: 400, reason: 'unusable-body', issuer: '' });
        this.logger.warn(`webhook: authenticated body refused: ${err.message}`);
        return reply(res, 400, err.message);
      }
      // An unknown issuer or kid argument: the service's typed error, shown without the value.
      const code = (err as { code?: string })?.code ?? 'error';
      this.emit({ type: 'webhook-refused', status: 400, reason: 'unknown-target', issuer: '' });
      this.logger.warn(`webhook: authenticated request could not be acted on (${code})`);
      return reply(res, 400, `the notice could not be acted on (${code})`);
    }
    reply(res, 202, 'Accepted', {}, { accepted: actions.length });
  }

  /**
   * Carries out each action; every argument is checked (issuer known, kid one a key set can hold)
   * before anything is done, so a batch is refused whole rather than half done and answered 400.
   */
  private act(actions: readonly WebhookAction[], source: 'signed-notice' | 'auth0-log-stream'): void {
    for (const action of actions) {
      this.cache.registry.source(action.issuer);
      if (action.event !== 'refresh' && !SAFE_KID.test(action.kid)) throw new JwksArgumentError('the kid is not a key id a key set can hold');
    }
    for (const action of actions) {
      const issuer = action.issuer;
      // The configured issuer it acts on: a revoke or restore without one is the only issuer's; a
      // refresh without one is every issuer's ('').
      const target = issuer ?? (action.event === 'refresh' ? '' : this.cache.registry.source().issuer.issuer);
      this.emit({ type: 'webhook-received', source, action: action.event, issuer: target });
      if (action.event === 'revoke') {
        this.cache.revokeKey(action.kid, issuer);
        this.logger.warn(`webhook (${SOURCE_LABELS[source]}): revoked ${kidFingerprint(action.kid)}${issuer ? ` of ${issuer}` : ''}`);
      } else if (action.event === 'restore') {
        this.cache.restoreKey(action.kid, issuer);
        this.logger.log(`webhook (${SOURCE_LABELS[source]}): restored ${kidFingerprint(action.kid)}${issuer ? ` of ${issuer}` : ''}`);
      } else {
        this.logger.log(`webhook (${SOURCE_LABELS[source]}): refresh${issuer ? ` of ${issuer}` : ''}`);
        // Not awaited: the sender gets its 202 at once; the outcome is in the log and the key-set state.
        let pending: Promise<unknown>;
        try {
          pending = issuer === undefined ? this.cache.refresh() : this.cache.refresh(issuer);
        } catch (err) {
          pending = Promise.reject(err);
        }
        pending.catch((err: unknown) => {
          if (err instanceof JwksRefreshDeferredError) this.logger.warn(`webhook refresh deferred by the IdP's Retry-After or the backoff: retry in ${Math.ceil(err.retryAfterMs / 1000)} s`);
          else this.logger.warn(`webhook refresh failed (${(err as { code?: string })?.code ?? 'error'})`);
        });
      }
    }
  }

  /** 401, or 429 while the sender is over its limit (a failed check is then not counted again). */
  private unauthorized(req: IncomingMessage, res: ServerResponse, waitMs: number, reason: WebhookRefusalReason, why: string): void {
    if (waitMs > 0) return this.limited(req, res, waitMs);
    this.refused(req, 401, reason, why);
    reply(res, 401, 'Unauthorized');
  }

  /** A refusal that counts against its sender: the event, the sender's count, the log line. */
  private refused(req: IncomingMessage, status: 401 | 413, reason: WebhookRefusalReason, why: string): void {
    this.emit({ type: 'webhook-refused', status, reason, issuer: '' });
    this.senders.refused(sender(req), this.clock.now());
    this.logRefusal(why);
  }

  /** A listener that throws must not cost the sender its answer. */
  private emit(event: JwksAuthEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // The verifier and the key sets ignore a throwing listener the same way.
      }
    }
  }

  /** One warning per window during a flood of refusals, with the count. */
  private logRefusal(why: string): void {
    const now = this.clock.now();
    if (now - this.refusals.windowStart >= REFUSAL_LOG_WINDOW_MS) {
      const more = this.refusals.count > 1 ? ` (${this.refusals.count - 1} more refused in the last window)` : '';
      this.refusals = { windowStart: now, count: 0 };
      this.logger.warn(`webhook: ${why}${more}`);
    }
    this.refusals.count++;
  }
}

/** The connection's address (never a forwarded header: a sender would choose it). */
function sender(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

function reply(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): void {
  if (res.headersSent) return;
  const body = JSON.stringify({ statusCode: status, message, ...extra });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}
