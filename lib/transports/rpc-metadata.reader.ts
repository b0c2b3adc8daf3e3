import { TokenMalformedError } from '../errors/jwks.errors.js';
import { credentialOf } from '../guards/authorization.header.js';
import { JWKS_DEFAULTS, MAX_TOKEN_VALUE_CHARS } from '../jwks-auth.constants.js';
import type { MicroservicesPeer } from './microservices.peer.js';

/**
 * What carries a message's metadata, by Nest transport (the RPC context is the handler's second
 * argument):
 * - 'broker': the transport has real metadata, and the default reads it alone: gRPC `Metadata`,
 *   NATS headers, Kafka message headers, RabbitMQ `properties.headers`, MQTT 5 user properties.
 * - 'packet': TCP and Redis, whose packets carry metadata only when the client sets it (Nest ≥ 12's
 *   `ClientProxy#setOnDispatchHook`); the default falls back to the payload.
 * - 'none': a custom transport, or `@nestjs/microservices` not loaded.
 */
export type MetadataKind = 'broker' | 'packet' | 'none';

type Getter = { get(name: string): unknown; getMap(): unknown };
/** The reading surface of nats.js `MsgHdrs` (`nats` is not a dependency): keys kept as sent, `values(k)` matching exactly. */
type NatsHeaders = { keys?(): unknown; values?(name: string): unknown };

/** gRPC's `Metadata` (`@grpc/grpc-js`, not a dependency of Nest): the only transport without a context class. */
function isGrpcMetadata(value: unknown): value is Getter {
  return typeof value === 'object' && value !== null && typeof (value as Getter).get === 'function' && typeof (value as Getter).getMap === 'function';
}

export function metadataKind(rpcContext: unknown, peer: MicroservicesPeer | undefined): MetadataKind {
  if (typeof rpcContext !== 'object' || rpcContext === null) return 'none';
  if (peer !== undefined && rpcContext instanceof peer.BaseRpcContext) {
    return rpcContext instanceof peer.TcpContext || rpcContext instanceof peer.RedisContext ? 'packet' : 'broker';
  }
  return isGrpcMetadata(rpcContext) ? 'broker' : 'none';
}

const MAX_ENTRIES = JWKS_DEFAULTS.maxMetadataEntries;

function tooMany(): never {
  throw new TokenMalformedError(`more than ${MAX_ENTRIES} metadata entries`);
}

/**
 * The own property of `record` named `name` (lower-case) in any letter case; two of them
 * (`authorization` and `Authorization`) are refused: which one another reader of the same message
 * takes is unknowable. More than `maxMetadataEntries` keys are refused before any is compared.
 * @throws TokenMalformedError when the name is repeated in two cases, or there are too many keys
 */
export function recordValue(record: unknown, name: string): unknown {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  const keys = Object.keys(record);
  if (keys.length > MAX_ENTRIES) tooMany();
  let found: unknown;
  let seen = false;
  for (const key of keys) {
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    if (seen) throw new TokenMalformedError(`more than one ${name} metadata entry`);
    seen = true;
    found = (record as Record<string, unknown>)[key];
  }
  return found;
}

/**
 * NATS headers (nats.js `MsgHdrs`): keys are kept as sent and `values(k)` matches exactly, so the
 * name is found among `keys()` in any letter case, two spellings refused as in `recordValue`.
 */
function natsValue(headers: unknown, name: string): unknown {
  const h = headers as NatsHeaders | null | undefined;
  if (typeof h?.keys === 'function') {
    const keys = h.keys();
    if (!Array.isArray(keys)) return undefined;
    if (keys.length > MAX_ENTRIES) tooMany();
    let found: string | undefined;
    for (const key of keys) {
      if (typeof key !== 'string' || key.length !== name.length || key.toLowerCase() !== name) continue;
      if (found !== undefined) throw new TokenMalformedError(`more than one ${name} metadata entry`);
      found = key;
    }
    return found === undefined || typeof h.values !== 'function' ? undefined : h.values(found);
  }
  if (typeof h?.values === 'function') {
    // A look-alike without `keys()`: the two spellings a client sends (ours and the canonical MIME form).
    const lower: unknown = h.values(name);
    const canonical: unknown = h.values(name.charAt(0).toUpperCase() + name.slice(1));
    const hasLower = Array.isArray(lower) && lower.length > 0;
    if (hasLower && Array.isArray(canonical) && canonical.length > 0) throw new TokenMalformedError(`more than one ${name} metadata entry`);
    return hasLower ? lower : canonical;
  }
  return recordValue(headers, name);
}

/**
 * The raw value stored under `name` (lower-case) in the message's metadata, or undefined.
 * @throws TokenMalformedError when the entry is repeated under two letter cases
 */
export function metadataValue(rpcContext: unknown, kind: MetadataKind, peer: MicroservicesPeer | undefined, name: string): unknown {
  if (kind === 'none') return undefined;
  const c = rpcContext as Record<string, (() => unknown) | undefined>;
  if (peer === undefined || !(rpcContext instanceof peer.BaseRpcContext)) return (rpcContext as Getter).get(name);
  if (kind === 'packet') return recordValue(c.getMetadata?.(), name);
  if (rpcContext instanceof peer.NatsContext) return natsValue(c.getHeaders?.(), name);
  if (rpcContext instanceof peer.KafkaContext) return recordValue((c.getMessage?.() as { headers?: unknown } | undefined)?.headers, name);
  if (rpcContext instanceof peer.RmqContext) return recordValue((c.getMessage?.() as { properties?: { headers?: unknown } } | undefined)?.properties?.headers, name);
  if (rpcContext instanceof peer.MqttContext) return recordValue((c.getPacket?.() as { properties?: { userProperties?: unknown } } | undefined)?.properties?.userProperties, name);
  return undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The token in one metadata or payload value: undefined when there is none, so a caller can look
 * elsewhere. A list (gRPC, NATS, Kafka, MQTT allow repeats) must hold exactly one value; bytes
 * (Kafka, RabbitMQ, gRPC) are decoded as UTF-8.
 * @throws TokenMissingError when the value carries another scheme than the expected `Bearer`
 * @throws TokenMalformedError when it is repeated, not text, or `Bearer` without one token
 */
export function tokenOfValue(value: unknown, shown: string, scheme: 'Bearer' | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    if (value.length > 1) throw new TokenMalformedError(`more than one ${shown}`);
    if (Array.isArray(value[0])) throw new TokenMalformedError(`${shown} is not a string`);
    return tokenOfValue(value[0], shown, scheme);
  }
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value instanceof Uint8Array) {
    if (value.byteLength > MAX_TOKEN_VALUE_CHARS) throw new TokenMalformedError(`${shown} is too large`);
    try {
      text = decoder.decode(value);
    } catch {
      throw new TokenMalformedError(`${shown} is not UTF-8`);
    }
  } else throw new TokenMalformedError(`${shown} is not a string`);
  return credentialOf(text, shown, scheme);
}

/**
 * The own property at `path` of `data`: every step an own property of a plain object or array, so
 * no getter of a prototype and no `__proto__` walk; undefined when a step is missing.
 */
export function payloadValue(data: unknown, path: readonly string[]): unknown {
  let current: unknown = data;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || !Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
