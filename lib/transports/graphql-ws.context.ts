/**
 * The graphql-ws server's per-connection context, as far as the guard reads it: `connectionParams`
 * is the `connection_init` payload (only when it was an object), `extra.request` the HTTP upgrade
 * request (the `ws` adapter's; other adapters put their own things in `extra`).
 */
export interface GraphqlWsContextLike {
  readonly connectionParams?: Readonly<Record<string, unknown>>;
  readonly extra?: { readonly request?: unknown; readonly socket?: unknown } | unknown;
}

/** A GraphQL context object: Nest's `{ req }` (and whatever the app's `context` function added). */
export type GraphqlContextLike = { req?: unknown; connectionParams?: unknown; extra?: unknown } | null | undefined;

/**
 * Whether `value` is graphql-ws's connection context. Nest's Apollo driver calls the app's (or its
 * default) `context` function with it as the first argument of a graphql-ws operation and, unless
 * the function put an object of its own there, makes it the context's `req`. Over HTTP `req` is
 * Express's or Fastify's request, which never carries `connectionInitReceived`.
 */
export function isGraphqlWsContext(value: unknown): value is GraphqlWsContextLike {
  return typeof value === 'object' && value !== null && typeof (value as { connectionInitReceived?: unknown }).connectionInitReceived === 'boolean';
}

/**
 * The graphql-ws context of one operation's GraphQL context: its `req` (Nest's default, and any
 * app `context` function that leaves `req` alone), else the GraphQL context itself when a
 * graphql-ws `context` of the app's own passed `connectionParams` or `extra` on; else undefined
 * (an HTTP operation, or a context that dropped both).
 */
export function graphqlWsContextOf(gql: GraphqlContextLike): GraphqlWsContextLike | undefined {
  if (typeof gql !== 'object' || gql === null) return undefined;
  if (isGraphqlWsContext(gql.req)) return gql.req;
  if (gql.req === undefined && ('connectionParams' in gql || 'extra' in gql)) return gql as GraphqlWsContextLike;
  return undefined;
}
