import { OptionalPeer } from './optional-peer.js';

/** A class of `@nestjs/microservices`, seen only through `instanceof` (no type import: the package is optional). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PeerClass = abstract new (...args: any[]) => object;

/**
 * The parts of `@nestjs/microservices` the 'rpc' transport uses, written out structurally so that
 * neither the shipped declarations nor an app without the package need its types.
 */
export interface MicroservicesPeer {
  readonly RpcException: new (error: object) => Error;
  readonly BaseRpcContext: PeerClass;
  readonly TcpContext: PeerClass;
  readonly RedisContext: PeerClass;
  readonly NatsContext: PeerClass;
  readonly KafkaContext: PeerClass;
  readonly RmqContext: PeerClass;
  readonly MqttContext: PeerClass;
}

/**
 * `@nestjs/microservices`, the app's own copy: Nest's RPC exception filter recognises only its own
 * `RpcException`, and the context classes tell the transports apart. Preloaded with the guard.
 */
export const microservicesPeer = new OptionalPeer<MicroservicesPeer>('@nestjs/microservices', () => import('@nestjs/microservices') as unknown as Promise<MicroservicesPeer>);
