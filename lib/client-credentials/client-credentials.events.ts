import type { ThrottleSource } from './throttle.headers.js';

/** Why a token request was made. */
export type ClientTokenTrigger = 'demand' | 'ahead' | 'invalidated';

/**
 * What the client-credentials service does, as events (delivered to `JwksAuthEvents` too when
 * `JwksAuthModule` is in the app). Never a token, a secret or an assertion; `audience` is
 * configuration (low cardinality), '' when none.
 */
export type ClientCredentialsEventBody =
  /** A request to the token endpoint ended: `outcome` is 'ok' or the error's kind. */
  | { type: 'client-token-requested'; audience: string; trigger: ClientTokenTrigger; outcome: string; status?: number; durationMs: number; message?: string }
  /** The endpoint may not be asked before `retryAt` (epoch ms); `source` is the header (or our backoff) that said so. */
  | { type: 'client-token-throttled'; audience: string; retryAt: number; source: ThrottleSource }
  /** A cached token within its refresh margin was served because the endpoint failed or throttles (once per token). */
  | { type: 'client-token-stale-served'; audience: string; reason: 'endpoint-failed' | 'throttled'; remainingMs: number };

/** A delivered event: with the token endpoint's origin as `issuer` (the label the JWKS events use). */
export type ClientCredentialsEvent = ClientCredentialsEventBody & { issuer: string };

/** Receives each event synchronously; must not throw (a throw is swallowed). */
export type ClientCredentialsEventListener = (event: ClientCredentialsEvent) => void;

/** Where the service logs (Nest's `Logger` fits). */
export interface ClientCredentialsLog {
  warn(message: string): void;
  log?(message: string): void;
  error?(message: string): void;
}

/**
 * The default log lines: a failed request and a throttle at `warn` (each is at most one line per
 * request to the endpoint, which the gate bounds), a stale token served at `warn`. Nothing per
 * cached `getToken`. Never a token or secret: messages are built from typed errors that hold none.
 */
export function clientCredentialsLogListener(log: ClientCredentialsLog): ClientCredentialsEventListener {
  return (e) => {
    switch (e.type) {
      case 'client-token-requested':
        if (e.outcome !== 'ok') log.warn(`client credentials: token request for audience ${JSON.stringify(e.audience)} failed (${describeOutcome(e.outcome, e.status)}): ${e.message ?? ''}`);
        return;
      case 'client-token-throttled':
        log.warn(`client credentials: no token request for audience ${JSON.stringify(e.audience)} before ${new Date(e.retryAt).toISOString()} (${e.source})`);
        return;
      case 'client-token-stale-served':
        log.warn(`client credentials: serving a token for audience ${JSON.stringify(e.audience)} inside its refresh margin (${Math.max(0, Math.round(e.remainingMs / 1000))} s left): the token endpoint ${e.reason === 'throttled' ? 'throttles us' : 'fails'}`);
        return;
    }
  };
}

/** "HTTP 429" for a plain status failure, "invalid-client, HTTP 401" when the kind says more, the kind alone without a status. */
function describeOutcome(outcome: string, status: number | undefined): string {
  if (status === undefined) return outcome;
  return outcome === 'status' ? `HTTP ${status}` : `${outcome}, HTTP ${status}`;
}
