import type { ExecutionContext } from '@nestjs/common';
import { JwtVerificationError, TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { metadataKind, metadataValue, payloadValue, recordValue, tokenOfValue } from './rpc-metadata.reader.js';
import { microservicesPeer } from './microservices.peer.js';
import type { ContextTokenReader } from './transport.js';
import { callExtractor } from '../guards/token.source.js';

/**
 * Finds the token of one microservice message: the token, or `null`/`undefined` when there is none.
 * Synchronous. `data` is the message payload, `context` the guard's `ExecutionContext`
 * (`context.switchToRpc().getContext()` is the transport's own context: `TcpContext`,
 * `NatsContext`, gRPC `Metadata`, ...).
 */
// The payload is whatever the client sent: an extractor written for its own payload type must be
// assignable here, so the parameter cannot be narrower than `any`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JwksMicroserviceTokenExtractor = (data: any, context: ExecutionContext) => string | null | undefined;

/**
 * Where the guard reads the token of a microservice message (`microservice.token`). Default: the
 * `authorization` metadata entry (`Bearer <token>`) where the transport has metadata (gRPC,
 * NATS, Kafka, RabbitMQ, MQTT 5 user properties); on TCP and Redis the packet metadata when the
 * client sets it (`ClientProxy#setOnDispatchHook`, Nest ≥ 12), else the payload's
 * `headers.authorization` (two different tokens in both are refused). `authorization` is matched
 * in any letter case, in metadata and payload `headers` alike; two spellings of it in one place,
 * or more than 2000 entries there, are refused.
 * - `{ from: 'metadata', name?, scheme? }`: metadata entry `name` (default `authorization`, any
 *   letter case); `scheme: 'Bearer'` reads `Bearer <token>` (the default for `authorization`),
 *   `null` the whole value (the default for any other name).
 * - `{ from: 'payload', path, scheme? }`: the payload's own property at `path` (`'auth.token'` or
 *   `['auth', 'token']`, at most 8 steps); `scheme` as above, by the last step's name.
 * - a function `(data, context) => string | null | undefined`.
 */
export type JwksMicroserviceTokenSource =
  | { from: 'metadata'; name?: string; scheme?: 'Bearer' | null }
  | { from: 'payload'; path: string | readonly string[]; scheme?: 'Bearer' | null }
  | JwksMicroserviceTokenExtractor;

/** `microservice.token` after validation: names lower-cased, paths split, defaults applied. */
export type ResolvedMicroserviceTokenSource =
  | { readonly from: 'metadata'; readonly name: string; readonly scheme: 'Bearer' | null }
  | { readonly from: 'payload'; readonly path: readonly string[]; readonly scheme: 'Bearer' | null }
  | { readonly from: 'function'; readonly extract: JwksMicroserviceTokenExtractor };

/** Options for microservice (`@MessagePattern` / `@EventPattern`) handlers. */
export interface JwksMicroserviceOptions {
  /** Where the token of a message is read. See `JwksMicroserviceTokenSource`. */
  token?: JwksMicroserviceTokenSource;
}

/** `microservice` after validation. */
export interface ResolvedMicroserviceOptions {
  /** null: the default (metadata, and on TCP / Redis the payload's `headers.authorization` too). */
  readonly token: ResolvedMicroserviceTokenSource | null;
}

/**
 * The payload object of the default on TCP and Redis: what a client forwarding Node's
 * `req.headers` sends, its `authorization` read in any letter case (two spellings refused).
 */
const DEFAULT_PAYLOAD_HEADERS: readonly string[] = Object.freeze(['headers']);
const AUTHORIZATION = 'authorization';

function missing(where: string): never {
  throw new TokenMissingError(`no token in ${where}`);
}

/** The default: metadata where the transport has it; on TCP and Redis, packet metadata or the payload. */
function defaultReader(context: ExecutionContext): string {
  const rpcContext: unknown = context.getArgByIndex(1);
  const peer = microservicesPeer.get();
  const kind = metadataKind(rpcContext, peer);
  const fromMetadata = tokenOfValue(metadataValue(rpcContext, kind, peer, AUTHORIZATION), 'authorization metadata', 'Bearer');
  if (kind === 'broker') return fromMetadata ?? missing('the authorization metadata');
  // As packet metadata is read: a payload carrying `authorization` and `Authorization` names two callers.
  const fromPayload = tokenOfValue(recordValue(payloadValue(context.getArgByIndex(0), DEFAULT_PAYLOAD_HEADERS), AUTHORIZATION), 'payload headers.authorization', 'Bearer');
  if (fromMetadata !== undefined && fromPayload !== undefined && fromMetadata !== fromPayload) {
    // Two callers' word on who is calling: which one a relay or another consumer reads is unknowable.
    throw new TokenMalformedError('different tokens in the packet metadata and the payload');
  }
  return fromMetadata ?? fromPayload ?? missing('the packet metadata or the payload headers.authorization');
}

function metadataReader(name: string, scheme: 'Bearer' | null): ContextTokenReader {
  const shown = `${name} metadata`;
  return (context) => {
    const rpcContext: unknown = context.getArgByIndex(1);
    const peer = microservicesPeer.get();
    return tokenOfValue(metadataValue(rpcContext, metadataKind(rpcContext, peer), peer, name), shown, scheme) ?? missing(`the ${shown}`);
  };
}

function payloadReader(path: readonly string[], scheme: 'Bearer' | null): ContextTokenReader {
  const shown = `payload ${path.join('.')}`;
  return (context) => tokenOfValue(payloadValue(context.getArgByIndex(0), path), shown, scheme) ?? missing(`the ${shown}`);
}

function extractorReader(extract: JwksMicroserviceTokenExtractor, onError: (err: unknown) => void): ContextTokenReader {
  return (context) => callExtractor(extract, context.getArgByIndex(0), context, onError, 'the token extractor');
}

/**
 * Holds a reader to the reader's contract whatever the message holds: a getter that throws, a
 * Proxy, a hostile `toString` become a coded refusal (a 401), never a 500.
 */
function guarded(read: ContextTokenReader): ContextTokenReader {
  return (context, request) => {
    try {
      return read(context, request);
    } catch (err) {
      if (err instanceof JwtVerificationError) throw err;
      throw new TokenMalformedError('the message metadata or payload could not be read');
    }
  };
}

/** The reader of `microservice.token`, built once per guard. */
export function compileMicroserviceTokenSource(source: ResolvedMicroserviceTokenSource | null, onExtractorError: (err: unknown) => void): ContextTokenReader {
  if (source === null) return guarded(defaultReader);
  switch (source.from) {
    case 'metadata':
      return guarded(metadataReader(source.name, source.scheme));
    case 'payload':
      return guarded(payloadReader(source.path, source.scheme));
    case 'function':
      return extractorReader(source.extract, onExtractorError);
  }
}
