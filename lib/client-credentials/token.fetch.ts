import type { ClientCredentialsService, ClientTokenRequest } from './client-credentials.service.js';

/** The part of `fetch` the wrapper calls. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A body that can be sent twice: a stream (`ReadableStream`, an async iterable) is consumed by the
 * first send, so a request carrying one is not retried after a 401 (its 401 is returned).
 */
function replayable(body: unknown): boolean {
  if (body === undefined || body === null) return true;
  if (typeof body === 'string' || body instanceof URLSearchParams || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true;
  if (typeof Blob !== 'undefined' && body instanceof Blob) return true;
  if (typeof FormData !== 'undefined' && body instanceof FormData) return true;
  return false;
}

/**
 * A `fetch` that sends `Authorization: Bearer <token>` from `service` for `token` (audience,
 * scope), and on a 401 from the API drops that token, gets a new one and retries once. A second
 * 401 is returned as is (never a loop), as is a 401 when the token may not be dropped yet (see
 * `ClientCredentialsService.invalidate`) or when the request body is a stream that cannot be
 * sent again. A `Request` input is cloned before the first send so its body can be replayed.
 *
 * ```ts
 * const api = withClientCredentials(service, { audience: 'https://YOUR_TENANT.auth0.com/api/v2/' });
 * const res = await api('https://YOUR_TENANT.auth0.com/api/v2/users?q=...');
 * ```
 */
export function withClientCredentials(service: ClientCredentialsService, token: ClientTokenRequest = {}, fetchImpl: FetchLike = fetch): FetchLike {
  return async (input, init) => {
    const isRequest = typeof Request !== 'undefined' && input instanceof Request;
    const canReplay = isRequest ? true : replayable(init?.body);
    const spare = isRequest && canReplay ? input.clone() : undefined;
    const send = (accessToken: string, target: string | URL | Request): Promise<Response> => {
      const headers = new Headers(init?.headers ?? (target instanceof Request ? target.headers : undefined));
      headers.set('authorization', `Bearer ${accessToken}`);
      return fetchImpl(target, { ...init, headers });
    };
    const first = await service.getToken(token);
    const response = await send(first, input);
    if (response.status !== 401 || !canReplay || !service.invalidate(first, token)) return response;
    let fresh: string;
    try {
      fresh = await service.getToken(token);
    } catch {
      // No new token now (throttled, endpoint down): the API's answer is the caller's.
      return response;
    }
    if (fresh === first) return response;
    await response.body?.cancel().catch(() => undefined);
    return send(fresh, spare ?? input);
  };
}
