import type { CanActivate } from '@nestjs/common';
import type { ModulesContainer } from '@nestjs/core';

/** `@WebSocketGateway()`'s class metadata (`GATEWAY_METADATA` of @nestjs/websockets, an optional peer not imported here). */
const GATEWAY_METADATA = 'websockets:is_gateway';
/** `@UseGuards()`'s metadata (`GUARDS_METADATA` of @nestjs/common, whose deep paths differ between its CommonJS and ES builds). */
const GUARDS_METADATA = '__guards__';

/**
 * `globalGuard: true` must protect WebSocket gateways too, but NestJS 11 does not apply global
 * guards (`APP_GUARD` or `useGlobalGuards`) to gateway handlers; NestJS 12 does. So the guard is
 * also put on each gateway class as `@UseGuards(instance)` would, before Nest binds the gateways'
 * handlers (at `app.init()`, after every provider exists). The instance, not the class: Nest
 * resolves a guard class through the module's injectables, which were collected before this runs.
 * Where Nest applies both, the guard checks a call once (see `JwksAuthGuard`). A gateway already
 * guarded by this guard class is left alone.
 */
export function guardGateways(modules: ModulesContainer, guard: CanActivate): void {
  for (const module of modules.values()) {
    for (const wrapper of module.providers.values()) {
      const type: unknown = wrapper.metatype;
      if (typeof type !== 'function' || Reflect.getMetadata(GATEWAY_METADATA, type) !== true) continue;
      const guards: unknown[] = Reflect.getMetadata(GUARDS_METADATA, type) ?? [];
      const already = guards.some((g) => g === guard.constructor || g === guard || (typeof g === 'function' && g.prototype instanceof (guard.constructor as new () => unknown)));
      if (!already) Reflect.defineMetadata(GUARDS_METADATA, [guard, ...guards], type);
    }
  }
}
