import type { GrantRequirement } from './grants.policy.js';

/**
 * The `WWW-Authenticate` value of a 403 for an unmet requirement (RFC 6750 §3.1). Scopes and
 * permissions are named in `scope` (Auth0's permissions are the API's scopes; the decorators
 * accept only scope-token characters, so the header cannot be broken out of); an any-of
 * requirement says so in `error_description`. Roles are not named: a client cannot request a role,
 * and the role names describe the organisation.
 */
export function insufficientScopeChallenge(unmet: GrantRequirement): string {
  if (unmet.kind === 'roles') return 'Bearer error="insufficient_scope", error_description="a required role is missing"';
  const scope = `Bearer error="insufficient_scope", scope="${unmet.values.join(' ')}"`;
  return unmet.mode === 'any' && unmet.values.length > 1 ? `${scope}, error_description="any one of the listed scopes is enough"` : scope;
}
