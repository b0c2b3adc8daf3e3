import { ForbiddenException, HttpException, Logger } from '@nestjs/common';
import { KeySetUnavailableError, TokenMissingError } from '../errors/jwks.errors.js';
import { retryAfterSeconds } from '../guards/refusal.headers.js';
import { forgetUser } from '../guards/request-user.property.js';
import { GRAPHQL_REFUSAL_CODES, JwksGraphQLRefusal } from './graphql.refusal.js';
import { graphqlWsContextOf, isGraphqlWsContext, type GraphqlContextLike } from './graphql-ws.context.js';
import { compileSubscriptionTokenSource } from './graphql-ws.token.js';
import type { HeaderSink, Transport } from './transport.js';

type GraphqlContext = { req?: { res?: HeaderSink } & GraphqlContextLike; res?: HeaderSink; reply?: HeaderSink } | undefined;

/** What the log says, once per guard, when a subscription's context hides the connection. */
const NO_WS_CONTEXT_HINT =
  "A GraphQL subscription was refused: its context carries neither Nest's `req` (the graphql-ws context) nor `connectionParams`, so no token can be read. " +
  "Keep Nest's default context, leave `req` alone in your `context` function, or have a graphql-ws `context` of your own return `{ connectionParams }`.";

/**
 * GraphQL (`@nestjs/graphql`, context type 'graphql'): queries and mutations over HTTP, and any
 * operation over graphql-ws (subscriptions, and queries sent on the socket).
 *
 * Over HTTP the request is the GraphQL context's `req`: Nest's Apollo driver puts it there by
 * default (Express's request, or Fastify's), an app with its own `context` function must keep it.
 *
 * Over graphql-ws Nest's driver makes graphql-ws's connection context the `req` (with its default
 * `context`, and with an app's that does not set `req`). That object lives as long as the
 * connection, so the guard treats the operation's GraphQL context as the request instead: the
 * user is written there (`context.user`, where `filter` and `resolve` see it), once per operation,
 * and a user of one operation never shows in another. Each operation is checked when it starts
 * (the connection's token, verified again, grants and all): one started after the token expired is
 * refused; one already running is not cut at `exp` (the resolver's stream owns its lifetime).
 *
 * Resolver arguments are `(root, args, context, info)`: `getArgByIndex(2)` is exactly what
 * `GqlExecutionContext.create(context).getContext()` returns, without importing `@nestjs/graphql`
 * (an optional peer) or awaiting a dynamic import on the request path.
 */
export const graphqlTransport: Transport = {
  request(context) {
    const gql = context.getArgByIndex<GraphqlContext>(2);
    const req = gql?.req;
    if (isGraphqlWsContext(req)) return gql;
    // An app's graphql-ws `context` that passed connectionParams (or extra) on, without `req`.
    if (req === undefined && graphqlWsContextOf(gql) !== undefined) return gql;
    return req;
  },

  /**
   * The GraphQL context: one per HTTP request, and one per graphql-ws operation (Nest makes one for
   * each). The guard reuses a verification only for the same token and only while
   * `JwtVerifier.stillValid` says it holds, so even a context an app shares cannot stretch one.
   */
  operation(context) {
    const gql: unknown = context.getArgByIndex(2);
    return typeof gql === 'object' && gql !== null ? gql : undefined;
  },

  /**
   * The one HTTP response of the operation: a `reply` (Fastify) or `res` the app put in the context,
   * else Express's `req.res`. Fastify's request does not lead to its reply: with Nest's default
   * context the refusal's headers are not written there (the GraphQL error still says it all).
   * None over graphql-ws.
   */
  response(context) {
    const gql = context.getArgByIndex<GraphqlContext>(2);
    return gql?.reply ?? gql?.res ?? gql?.req?.res;
  },

  /**
   * An `HttpException` of a mapped status becomes a GraphQL error with that `extensions.code`
   * (and `retryAfter` in seconds when no usable key set is held); anything else is thrown as is.
   */
  refusal(thrown, reason, context) {
    // A refused token's user leaves the request (or operation), so a later `@Public()` field of the
    // same operation sees none. Not on a 403: the token is valid, it lacks a grant for this field.
    if (context !== undefined && !(thrown instanceof ForbiddenException)) forgetUser(graphqlTransport.request(context));
    if (!(thrown instanceof HttpException)) return thrown;
    const code = GRAPHQL_REFUSAL_CODES[thrown.getStatus()];
    if (code === undefined) return thrown;
    const retryAfter = thrown.getStatus() === 503 && reason instanceof KeySetUnavailableError ? retryAfterSeconds(reason.retryAfterMs) : undefined;
    return new JwksGraphQLRefusal(thrown.message, code, retryAfter);
  },

  /**
   * Over HTTP, the HTTP request's token, read as the module's `token` option says. Over
   * graphql-ws, the connection's, read as `subscriptions.token` says (default:
   * `connectionParams.Authorization`, `Bearer <token>`).
   */
  tokenReader({ options, http, onExtractorError }) {
    const ws = compileSubscriptionTokenSource(options?.subscriptions?.token ?? null, http, onExtractorError);
    let hinted = false;
    return (context, request) => {
      const gql = context.getArgByIndex<GraphqlContext>(2);
      // `request()` returns the GraphQL context itself for a graphql-ws operation only.
      if (request !== undefined && request === gql) return ws(graphqlWsContextOf(gql)!);
      try {
        return http(request);
      } catch (err) {
        if (!hinted && err instanceof TokenMissingError && request === undefined && isSubscription(context.getArgByIndex(3))) {
          hinted = true;
          new Logger('JwksAuthGuard').warn(NO_WS_CONTEXT_HINT);
        }
        throw err;
      }
    };
  },
};

function isSubscription(info: unknown): boolean {
  return (info as { operation?: { operation?: unknown } } | undefined)?.operation?.operation === 'subscription';
}
