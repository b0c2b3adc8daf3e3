import { IntrinsicException } from '@nestjs/common';

/** GraphQL `extensions.code` by the HTTP status a refusal would have had (`unavailableStatus` 503 included). */
export const GRAPHQL_REFUSAL_CODES: Readonly<Record<number, string>> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  503: 'SERVICE_UNAVAILABLE',
};

/**
 * A refusal on a GraphQL resolver: graphql-js copies `extensions` of a thrown error into the
 * response's `errors[].extensions` (with no import of `graphql` here, which stays optional).
 * An `IntrinsicException`, so Nest's exception handler does not log each refusal as an error;
 * not an `HttpException`, so Apollo's `autoTransformHttpErrors` leaves our `code` alone (it maps
 * a 503 to INTERNAL_SERVER_ERROR) and adds no `originalError`.
 */
export class JwksGraphQLRefusal extends IntrinsicException {
  override readonly name = 'JwksGraphQLRefusal';
  readonly extensions: { readonly code: string; readonly retryAfter?: number };

  constructor(message: string, code: string, retryAfter?: number) {
    super(message);
    this.extensions = retryAfter === undefined ? { code } : { code, retryAfter };
  }
}
