/**
 * The grant policy of `@Scopes()`, `@Permissions()` and `@Roles()`: pure, no Nest, no HTTP. A route
 * holds a list of requirements (from its handler and its controller); every one must hold.
 */

/** What a requirement is about: OAuth scopes, API permissions (Auth0 RBAC), or roles/groups. */
export type GrantKind = 'scopes' | 'permissions' | 'roles';

/** `all`: every listed value must be held; `any`: at least one. */
export type GrantMode = 'all' | 'any';

/** One decorator's demand, e.g. `@Scopes.any('a', 'b')` → `{ kind: 'scopes', mode: 'any', values: ['a', 'b'] }`. */
export interface GrantRequirement {
  readonly kind: GrantKind;
  readonly mode: GrantMode;
  /** Non-empty; checked when the decorator is applied. */
  readonly values: readonly string[];
}

/** The grants a token holds, by kind. Asked only for the kinds a route requires. */
export type HeldGrants = (kind: GrantKind) => ReadonlySet<string>;

/** Whether the held grants satisfy one requirement. */
export function satisfies(requirement: GrantRequirement, held: ReadonlySet<string>): boolean {
  const { values } = requirement;
  if (requirement.mode === 'all') {
    for (let i = 0; i < values.length; i++) if (!held.has(values[i])) return false;
    return true;
  }
  for (let i = 0; i < values.length; i++) if (held.has(values[i])) return true;
  return false;
}

/**
 * The first requirement the held grants do not satisfy, or undefined when all hold. An empty list
 * of requirements holds. Each kind is read at most once, however many requirements name it.
 */
export function unmetRequirement(requirements: readonly GrantRequirement[], held: HeldGrants): GrantRequirement | undefined {
  let scopes: ReadonlySet<string> | undefined;
  let permissions: ReadonlySet<string> | undefined;
  let roles: ReadonlySet<string> | undefined;
  for (const requirement of requirements) {
    let set: ReadonlySet<string>;
    if (requirement.kind === 'scopes') set = scopes ??= held('scopes');
    else if (requirement.kind === 'permissions') set = permissions ??= held('permissions');
    else set = roles ??= held('roles');
    if (!satisfies(requirement, set)) return requirement;
  }
  return undefined;
}
