import type { ExecutionContext } from '@nestjs/common';
import { GRANTS_KEY } from '../jwks-auth.constants.js';
import type { GrantRequirement } from './grants.policy.js';
import { RouteMemo } from '../decorators/route.memo.js';

function own(target: unknown): readonly GrantRequirement[] {
  if (typeof target !== 'function') return [];
  return (Reflect.getOwnMetadata(GRANTS_KEY, target) as readonly GrantRequirement[] | undefined) ?? [];
}

/**
 * The handler's requirements, then its controller's and every base class's: a subclass adds to
 * what its base demands, never lifts it. Null when there is none.
 */
function read(handler: unknown, controller: unknown): readonly GrantRequirement[] | null {
  const all = [...own(handler)];
  for (let c: unknown = controller; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) all.push(...own(c));
  return all.length === 0 ? null : Object.freeze(all);
}

/** Per route, once: the requirements, or null. */
const routes = new RouteMemo(read);

/**
 * What `@Scopes()`, `@Permissions()` and `@Roles()` demand of this route, or null: two WeakMap
 * reads per request once the route has been seen, and no allocation.
 */
export function routeGrantRequirements(context: ExecutionContext): readonly GrantRequirement[] | null {
  return routes.get(context);
}
