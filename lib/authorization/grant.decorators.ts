import { JwksArgumentError } from '../errors/jwks.errors.js';
import { GRANTS_KEY } from '../jwks-auth.constants.js';
import type { GrantKind, GrantMode, GrantRequirement } from './grants.policy.js';

/** A decorator for a handler or a controller. */
export type GrantDecorator = MethodDecorator & ClassDecorator;

/**
 * `@Scopes('a', 'b')`: the token must hold all of them; `@Scopes.any('a', 'b')`: at least one;
 * `@Scopes.all(...)` says the default out loud. The same for `@Permissions()` and `@Roles()`.
 */
export interface GrantDecoratorFactory {
  (...values: string[]): GrantDecorator;
  all(...values: string[]): GrantDecorator;
  any(...values: string[]): GrantDecorator;
}

/**
 * RFC 6749 §3.3's scope-token: printable ASCII without space, `"` and `\`. Scopes and permissions
 * are named in the `WWW-Authenticate` challenge, so nothing else may reach the header, and a
 * value with a space could never be held (a `scope` claim is split on spaces).
 */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

function requirement(decorator: string, kind: GrantKind, mode: GrantMode, values: unknown[]): GrantRequirement {
  if (values.length === 0) throw new JwksArgumentError(`@${decorator}() needs at least one value: with none, it would demand nothing`);
  for (const value of values) {
    if (typeof value !== 'string' || value === '') {
      throw new JwksArgumentError(`@${decorator}() takes non-empty strings, got ${typeof value === 'string' ? 'an empty string' : typeof value}`);
    }
    if (kind !== 'roles' && !SCOPE_TOKEN.test(value)) {
      throw new JwksArgumentError(`@${decorator}(): ${JSON.stringify(value)} cannot be a ${kind.slice(0, -1)} (printable ASCII without space, " or \\, as RFC 6749 §3.3 defines a scope)`);
    }
  }
  return Object.freeze({ kind, mode, values: Object.freeze([...new Set(values as string[])]) });
}

/**
 * Appends to the target's own list, so `@Scopes('a') @Roles('admin')` on one target demands both
 * (Nest's `SetMetadata` would keep only one of them).
 */
function append(required: GrantRequirement): GrantDecorator {
  return (target: object, _key?: string | symbol, descriptor?: TypedPropertyDescriptor<any>): void => {
    const where: object = descriptor === undefined ? target : (descriptor.value as object);
    const own = (Reflect.getOwnMetadata(GRANTS_KEY, where) as readonly GrantRequirement[] | undefined) ?? [];
    Reflect.defineMetadata(GRANTS_KEY, Object.freeze([...own, required]), where);
  };
}

function factory(decorator: string, kind: GrantKind): GrantDecoratorFactory {
  const all = (...values: string[]): GrantDecorator => append(requirement(`${decorator}`, kind, 'all', values));
  return Object.assign(all, {
    all,
    any: (...values: string[]): GrantDecorator => append(requirement(`${decorator}.any`, kind, 'any', values)),
  });
}

/**
 * Requires OAuth scopes of the token (`scope` or `scp`, or where the issuer's `grantClaims` says).
 * On a handler and on its controller, both must hold. Enforced by `JwksAuthGuard` (global or
 * `@UseGuards`); `@Public()` routes skip it. A missing scope answers 403 with
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.
 *
 * ```ts
 * @Scopes('orders:read', 'orders:write')   // both
 * @Scopes.any('orders:read', 'orders:admin') // either
 * ```
 */
export const Scopes: GrantDecoratorFactory = factory('Scopes', 'scopes');

/** Requires permissions (Auth0 RBAC's `permissions` claim, or the issuer's `grantClaims`); as `@Scopes()`. */
export const Permissions: GrantDecoratorFactory = factory('Permissions', 'permissions');

/**
 * Requires roles (`roles`, `realm_access.roles`, `cognito:groups`, or the issuer's `grantClaims`);
 * as `@Scopes()`. The 403's challenge does not name roles (a client cannot ask for one).
 */
export const Roles: GrantDecoratorFactory = factory('Roles', 'roles');
