import { UNAVAILABLE_RETRY_AFTER_SEC } from '../jwks-auth.constants.js';

/**
 * RFC 6750 §3.1: a request without a bearer token (none, or another scheme) gets the bare
 * challenge, without an error code: it may simply not know that authentication is needed.
 */
export const CHALLENGE_NO_TOKEN = 'Bearer';
/** RFC 6750 §3.1: a bearer token was presented and refused. The reason stays in our logs. */
export const CHALLENGE_INVALID_TOKEN = 'Bearer error="invalid_token"';

/**
 * `Retry-After` in whole seconds (RFC 9110 §10.2.3) for a wait in ms: rounded up, at least 1 (a
 * 0 invites an immediate retry storm), and the default when the wait is unknown or not a number.
 */
export function retryAfterSeconds(waitMs: number | undefined): number {
  if (waitMs === undefined || !Number.isFinite(waitMs)) return UNAVAILABLE_RETRY_AFTER_SEC;
  return Math.max(1, Math.ceil(waitMs / 1000));
}
