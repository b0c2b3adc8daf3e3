import type { ExecutionContext } from '@nestjs/common';

/**
 * What the decorators of a route say, worked out once per handler: decorators run once, at class
 * definition, so their metadata never changes afterwards. Per request it costs two WeakMap reads
 * and allocates nothing. Contexts without a handler or class function (hand-built ones) are read
 * every time.
 */
export class RouteMemo<T> {
  private readonly byController = new WeakMap<object, WeakMap<object, T>>();

  constructor(private readonly read: (handler: unknown, controller: unknown) => T) {}

  get(context: ExecutionContext): T {
    const handler: unknown = context.getHandler();
    const controller: unknown = context.getClass();
    if (typeof handler !== 'function' || typeof controller !== 'function') return this.read(handler, controller);
    let byHandler = this.byController.get(controller);
    if (byHandler === undefined) this.byController.set(controller, (byHandler = new WeakMap()));
    let found = byHandler.get(handler);
    if (found === undefined) byHandler.set(handler, (found = this.read(handler, controller)));
    return found;
  }
}
