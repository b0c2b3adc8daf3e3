import { JwksOptionsError, KeySetUnavailableError } from '../errors/jwks.errors.js';
import { extractBearerToken } from '../guards/authorization.header.js';
import { GRAPHQL_WS_CLOSE } from '../jwks-auth.constants.js';
import type { JwtVerifier } from '../verify/jwt.verifier.js';
import { subscriptionsOption } from './graphql-subscriptions.options.js';
import type { GraphqlWsContextLike } from './graphql-ws.context.js';
import { compileSubscriptionTokenSource, type JwksSubscriptionTokenSource } from './graphql-ws.token.js';

/** Options of `jwksGraphqlWsOnConnect`. */
export interface JwksGraphqlWsOnConnectOptions {
  /**
   * Where the token is read, as the module's `subscriptions.token` says (default
   * `connectionParams.Authorization`, `Bearer <token>`). `{ from: 'upgradeRequest' }` reads the
   * upgrade request's Authorization header: the module's `token` option is not known here.
   */
  token?: JwksSubscriptionTokenSource;
}

/**
 * A graphql-ws `onConnect` that refuses a connection whose token does not verify, before any
 * operation is sent: closed with 4401 (no token, or a refused one), or 1013 "Try Again Later" when
 * no usable key set is held. It complements the guard, which still checks every operation (with
 * its grants, `@Public()` and `mapUser`); use the same token source for both.
 *
 * ```ts
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [JwtVerifier], // JwksAuthModule.forRoot({ ..., isGlobal: true })
 *   useFactory: (verifier: JwtVerifier) => ({
 *     autoSchemaFile: true,
 *     subscriptions: { 'graphql-ws': { onConnect: jwksGraphqlWsOnConnect(verifier) } },
 *   }),
 * })
 * ```
 * @throws JwksOptionsError when `options.token` is not a valid source
 */
export function jwksGraphqlWsOnConnect(verifier: JwtVerifier, options: JwksGraphqlWsOnConnectOptions = {}): (context: GraphqlWsContextLike) => Promise<boolean> {
  const problems: string[] = [];
  const resolved = subscriptionsOption(problems, options.token === undefined ? {} : { token: options.token });
  if (problems.length > 0) throw new JwksOptionsError(problems);
  // An extractor that throws is the app's bug; refused like any other bad token, never thrown on.
  const read = compileSubscriptionTokenSource(resolved.token, extractBearerToken, () => undefined);
  return async (context) => {
    try {
      await verifier.verifyOrDefer(read(context));
      return true;
    } catch (err) {
      const close = err instanceof KeySetUnavailableError ? GRAPHQL_WS_CLOSE.unavailable : GRAPHQL_WS_CLOSE.unauthenticated;
      const socket = (context.extra as { socket?: { close?: unknown } } | undefined)?.socket;
      // The `ws` adapter's socket: our close code; graphql-ws's own close (4403) after it is a no-op.
      if (typeof socket?.close === 'function') (socket.close as (code: number, reason: string) => void)(close.code, close.reason);
      return false;
    }
  };
}
