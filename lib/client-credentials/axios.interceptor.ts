import type { ClientCredentialsService, ClientTokenRequest } from './client-credentials.service.js';

// The part of axios used, written out: neither axios nor @nestjs/axios is needed at runtime or to
// compile against our declarations (the caller brings its instance). axios 1.x fits these.

/** A request config as axios passes it to interceptors. */
export interface AxiosRequestConfigLike {
  headers?: { set?(name: string, value: string): unknown } & Record<string, unknown>;
  data?: unknown;
}
/** A response (or an error's response). */
export interface AxiosResponseLike {
  status: number;
  config: AxiosRequestConfigLike;
}
/**
 * An axios instance: its interceptors and `request`. The callbacks take `any`: axios types them
 * with its own config and response classes, which a structural type cannot name without importing axios.
 */
export interface AxiosInstanceLike {
  interceptors: {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    request: { use(onFulfilled: (config: any) => any): number; eject(id: number): void };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    response: { use(onFulfilled: (response: any) => any, onRejected: (error: any) => any): number; eject(id: number): void };
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  request(config: any): Promise<unknown>;
}

/** `HttpService` of `@nestjs/axios` (its `axiosRef`) or an axios instance. */
export type AxiosTarget = AxiosInstanceLike | { axiosRef: AxiosInstanceLike };
type AxiosInstance = AxiosInstanceLike;
type InternalAxiosRequestConfig = AxiosRequestConfigLike;
type AxiosResponse = unknown;
type AxiosError = { response?: AxiosResponseLike; config?: AxiosRequestConfigLike };

/** Marks a request already retried after a 401, and the token it was sent with. */
const SENT_TOKEN = Symbol('jwks-auth:client-token');
const RETRIED = Symbol('jwks-auth:client-token-retried');

type MarkedConfig = InternalAxiosRequestConfig & { [SENT_TOKEN]?: string; [RETRIED]?: boolean };

/** A body axios cannot send twice (a Node stream). */
function isStream(data: unknown): boolean {
  return typeof data === 'object' && data !== null && typeof (data as { pipe?: unknown }).pipe === 'function';
}

/**
 * Attaches `Authorization: Bearer <token>` from `service` to every request of an axios instance
 * (or of `@nestjs/axios`'s `HttpService`, through its `axiosRef`), and on a 401 drops that token,
 * gets a new one and retries the request once; a second 401 is the caller's (never a loop), as is
 * a 401 whose request body is a stream. Returns a function that detaches both interceptors.
 *
 * ```ts
 * attachClientCredentials(httpService, clientCredentials, { audience: 'https://YOUR_TENANT.auth0.com/api/v2/' });
 * ```
 */
export function attachClientCredentials(target: AxiosTarget, service: ClientCredentialsService, token: ClientTokenRequest = {}): () => void {
  const axios: AxiosInstance = 'axiosRef' in target ? target.axiosRef : target;
  const requestId = axios.interceptors.request.use(async (config: MarkedConfig): Promise<MarkedConfig> => {
    const accessToken = await service.getToken(token);
    // Not enumerable: an app that logs the config (or an error holding it) does not print the token.
    Object.defineProperty(config, SENT_TOKEN, { value: accessToken, enumerable: false, configurable: true, writable: true });
    const value = `Bearer ${accessToken}`;
    if (typeof config.headers?.set === 'function') config.headers.set('Authorization', value);
    else (config as { headers: Record<string, string> }).headers = { ...(config.headers as Record<string, string>), Authorization: value };
    return config;
  });
  const retry = (config: MarkedConfig | undefined): Promise<AxiosResponse> | null => {
    if (config === undefined || config[RETRIED] || isStream(config.data)) return null;
    const sent = config[SENT_TOKEN];
    if (sent === undefined || !service.invalidate(sent, token)) return null;
    config[RETRIED] = true;
    // The request interceptor sets the new token.
    return axios.request(config as never) as Promise<AxiosResponse>;
  };
  const responseId = axios.interceptors.response.use(
    (response: AxiosResponseLike) => (response.status === 401 ? (retry(response.config as MarkedConfig) ?? response) : response),
    (error: AxiosError) => {
      if (error?.response?.status === 401) {
        const again = retry(error.config as MarkedConfig | undefined);
        if (again !== null) return again;
      }
      redact(error);
      return Promise.reject(error);
    },
  );
  return () => {
    axios.interceptors.request.eject(requestId);
    axios.interceptors.response.eject(responseId);
  };
}

/**
 * An error the app gets from a request this interceptor decorated is often logged whole: its
 * config's Authorization header is replaced, and the Node request objects (whose raw header text
 * holds the token) are kept but made non-enumerable, so neither `util.inspect` nor a logger's
 * serialiser prints them. The error is otherwise the caller's as axios made it.
 */
function redact(error: AxiosError): void {
  const config = error?.config as MarkedConfig | undefined;
  if (config === undefined || config[SENT_TOKEN] === undefined) return;
  const headers = config.headers as { set?: (name: string, value: string) => unknown } & Record<string, unknown>;
  if (typeof headers?.set === 'function') headers.set('Authorization', 'Bearer [redacted]');
  else if (headers !== undefined && headers !== null) headers.Authorization = 'Bearer [redacted]';
  for (const holder of [error as unknown as Record<string, unknown>, error.response as unknown as Record<string, unknown> | undefined]) {
    if (holder !== undefined && holder !== null && 'request' in holder) {
      Object.defineProperty(holder, 'request', { value: holder.request, enumerable: false, configurable: true, writable: true });
    }
  }
}
