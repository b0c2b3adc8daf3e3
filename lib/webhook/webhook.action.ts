/** What a webhook asks of the key sets: carried out through `JwksCacheService`, so fleet-wide in fleet mode. */
export type WebhookAction =
  | { readonly event: 'refresh'; readonly issuer?: string }
  | { readonly event: 'revoke' | 'restore'; readonly issuer?: string; readonly kid: string };

/** A body that authenticated but cannot be acted on: the webhook answers 400 with `message`. */
export class WebhookBodyError extends Error {
  readonly code = 'ERR_JWKS_WEBHOOK_BODY';
}

/** The same action twice in one request is carried out once (an Auth0 batch may list a rotation twice). */
export function dedupeActions(actions: readonly WebhookAction[]): WebhookAction[] {
  const seen = new Set<string>();
  return actions.filter((a) => {
    const key = JSON.stringify([a.event, a.issuer ?? null, 'kid' in a ? a.kid : null]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
