import type { ExecutionContext } from '@nestjs/common';
import { GRANTS_KEY } from '../jwks-auth.constants.js';
import type { GrantRequirement } from './grants.policy.js';

/** Per controller class, per handler: the route's requirements, or null. Decorators run once, at class definition. */
const routes = new WeakMap<object, WeakMap<object, readonly GrantRequirement[] | null>>();

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

/**
 * What `@Scopes()`, `@Permissions()` and `@Roles()` demand of this route, or null: two WeakMap
 * reads per request once the route has been seen, and no allocation.
 */
export function routeGrantRequirements(context: ExecutionContext): readonly GrantRequirement[] | null {
  const handler: unknown = context.getHandler();
  const controller: unknown = context.getClass();
  if (typeof handler !== 'function' || typeof controller !== 'function') return read(handler, controller);
  let byHandler = routes.get(controller);
  if (byHandler === undefined) routes.set(controller, (byHandler = new WeakMap()));
  let found = byHandler.get(handler);
  if (found === undefined) byHandler.set(handler, (found = read(handler, controller)));
  return found;
}
