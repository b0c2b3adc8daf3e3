import type { ExecutionContext } from '@nestjs/common';
import { graphqlTransport } from './graphql.transport.js';
import { rpcTransport } from './rpc.transport.js';
import type { Transport } from './transport.js';
import { wsTransport } from './ws.transport.js';

/** The non-HTTP context types the guard understands, by `context.getType()`. */
const TRANSPORTS: Readonly<Record<string, Transport | undefined>> = {
  graphql: graphqlTransport,
  rpc: rpcTransport,
  ws: wsTransport,
};

/** Imports the optional peers the transports' refusals need (those installed); see `OptionalPeer`. */
export function preloadTransportPeers(): Promise<void> {
  const peers = Object.values(TRANSPORTS).flatMap((t) => t?.peers ?? []);
  return Promise.all(peers.map((p) => p.preload())).then(() => undefined);
}

/** The transport of a non-HTTP context, or undefined (HTTP, or a type we do not know). */
export function transportOf(context: ExecutionContext): Transport | undefined {
  const type = context.getType();
  return type === 'http' ? undefined : TRANSPORTS[type];
}

/**
 * The request-like object of any context: the HTTP request, a transport's, or (an unknown type)
 * whatever the transport passes first, as `switchToHttp()` gives it.
 */
export function requestOf<T = unknown>(context: ExecutionContext): T {
  if (context.getType() !== 'http') {
    const transport = TRANSPORTS[context.getType()];
    if (transport !== undefined) return transport.request(context) as T;
  }
  return context.switchToHttp().getRequest<T>();
}
