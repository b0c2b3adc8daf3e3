import type { CanActivate, ExecutionContext } from '@nestjs/common';
import type { ModulesContainer } from '@nestjs/core';

/** `@WebSocketGateway()`'s class metadata (`GATEWAY_METADATA` of @nestjs/websockets, an optional peer not imported here). */
const GATEWAY_METADATA = 'websockets:is_gateway';
/** `@UseGuards()`'s metadata (`GUARDS_METADATA` of @nestjs/common, whose deep paths differ between its CommonJS and ES builds). */
const GUARDS_METADATA = '__guards__';

/** Gateway calls a module's guard has let through, by that module's verifier (the guard tells, see `gatewayCallPassed`). */
const PASSED = new WeakMap<ExecutionContext, Set<object>>();

/** Records that the guard of the module with `verifier` let this gateway call through. */
export function gatewayCallPassed(context: ExecutionContext, verifier: object): void {
  const set = PASSED.get(context);
  if (set === undefined) PASSED.set(context, new Set([verifier]));
  else set.add(verifier);
}

/**
 * What `globalGuard` puts on a gateway class: runs its module's guard, unless that guard already
 * let this very call through as a global guard (NestJS 12 applies global guards to gateways;
 * NestJS 11 does not, and there this is the only check). Never skips any other guard.
 */
class GlobalGuardOnGateway implements CanActivate {
  constructor(
    readonly guard: CanActivate,
    private readonly verifier: object,
  ) {}

  canActivate(context: ExecutionContext): ReturnType<CanActivate['canActivate']> {
    return PASSED.get(context)?.has(this.verifier) === true ? true : this.guard.canActivate(context);
  }
}

/**
 * `globalGuard: true` must protect WebSocket gateways too, but NestJS 11 does not apply global
 * guards (`APP_GUARD` or `useGlobalGuards`) to gateway handlers. So each gateway class also gets a
 * `GlobalGuardOnGateway` in its `@UseGuards()` metadata, before Nest binds the gateways' handlers
 * (at `app.init()`, after every provider exists): an instance, since Nest resolves a guard class
 * through the module's injectables, collected before this runs. A gateway already guarded by a
 * `JwksAuthGuard` (or a subclass) of its own is left alone.
 *
 * Class metadata outlives the app: the returned function takes the stand-in off again, and the
 * guard calls it when its module is destroyed, so a later app in the same process (tests, several
 * apps) is guarded only by its own module.
 * @returns the undo
 */
export function guardGateways(modules: ModulesContainer, guard: CanActivate, verifier: object): () => void {
  const guardClass = guard.constructor as abstract new (...args: never[]) => unknown;
  const stand = new GlobalGuardOnGateway(guard, verifier);
  const guarded: object[] = [];
  for (const module of modules.values()) {
    for (const wrapper of module.providers.values()) {
      const type: unknown = wrapper.metatype;
      if (typeof type !== 'function' || Reflect.getMetadata(GATEWAY_METADATA, type) !== true) continue;
      const guards: unknown[] = Reflect.getMetadata(GUARDS_METADATA, type) ?? [];
      const own = guards.some((g) => g === guardClass || (typeof g === 'function' && g.prototype instanceof guardClass) || (g instanceof guardClass && !(g instanceof GlobalGuardOnGateway)));
      if (own) continue;
      Reflect.defineMetadata(GUARDS_METADATA, [stand, ...guards], type);
      guarded.push(type);
    }
  }
  return () => {
    for (const type of guarded) {
      const guards: unknown[] = Reflect.getMetadata(GUARDS_METADATA, type) ?? [];
      Reflect.defineMetadata(GUARDS_METADATA, guards.filter((g) => g !== stand), type);
    }
  };
}
