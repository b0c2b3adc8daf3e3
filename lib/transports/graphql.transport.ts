import { HttpException } from '@nestjs/common';
import { KeySetUnavailableError } from '../errors/jwks.errors.js';
import { retryAfterSeconds } from '../guards/refusal.headers.js';
import { GRAPHQL_REFUSAL_CODES, JwksGraphQLRefusal } from './graphql.refusal.js';
import type { HeaderSink, Transport } from './transport.js';

type GraphqlContext = { req?: { res?: HeaderSink }; res?: HeaderSink } | undefined;

/**
 * GraphQL queries and mutations over HTTP (`@nestjs/graphql`, context type 'graphql'). The
 * request is the GraphQL context's `req`: Nest's Apollo driver puts it there by default, an app
 * with its own `context` function must keep it (`context: ({ req }) => ({ req, ... })`).
 *
 * Resolver arguments are `(root, args, context, info)`: `getArgByIndex(2)` is exactly what
 * `GqlExecutionContext.create(context).getContext()` returns, without importing `@nestjs/graphql`
 * (an optional peer) or awaiting a dynamic import on the request path.
 */
export const graphqlTransport: Transport = {
  request(context) {
    return context.getArgByIndex<GraphqlContext>(2)?.req;
  },

  /** Express's `req.res` (or a `res` the app put in the context): the one HTTP response of the operation. */
  response(context) {
    const gql = context.getArgByIndex<GraphqlContext>(2);
    return gql?.res ?? gql?.req?.res;
  },

  /**
   * An `HttpException` of a mapped status becomes a GraphQL error with that `extensions.code`
   * (and `retryAfter` in seconds when no usable key set is held); anything else is thrown as is.
   */
  refusal(thrown, reason) {
    if (!(thrown instanceof HttpException)) return thrown;
    const code = GRAPHQL_REFUSAL_CODES[thrown.getStatus()];
    if (code === undefined) return thrown;
    const retryAfter = thrown.getStatus() === 503 && reason instanceof KeySetUnavailableError ? retryAfterSeconds(reason.retryAfterMs) : undefined;
    return new JwksGraphQLRefusal(thrown.message, code, retryAfter);
  },

  /** Queries and mutations over HTTP: the HTTP request's token, read as the module's `token` option says. */
  tokenReader({ http }) {
    return (_context, request) => http(request);
  },
};
