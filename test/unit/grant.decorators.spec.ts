import type { ExecutionContext } from '@nestjs/common';
import { JwksArgumentError, Permissions, Roles, Scopes, type GrantRequirement } from '../../lib';
import { routeGrantRequirements } from '../../lib/authorization/grant.requirements';

const context = (controller: unknown, handler: unknown): ExecutionContext =>
  ({ getClass: () => controller, getHandler: () => handler }) as unknown as ExecutionContext;

describe('@Scopes / @Permissions / @Roles', () => {
  it('record all-of by default, any-of with .any, and stack on one target (both kept)', () => {
    class C {
      @Scopes('a', 'b')
      @Scopes.any('c', 'd')
      @Roles.all('admin')
      m(): void {}
    }
    const required = routeGrantRequirements(context(C, C.prototype.m)) as GrantRequirement[];
    expect(required).toEqual([
      { kind: 'roles', mode: 'all', values: ['admin'] },
      { kind: 'scopes', mode: 'any', values: ['c', 'd'] },
      { kind: 'scopes', mode: 'all', values: ['a', 'b'] },
    ]);
  });

  it("combine the handler's with its controller's and every base class's", () => {
    @Roles('base')
    class Base {}
    @Permissions.any('p')
    class C extends Base {
      @Scopes('s')
      m(): void {}
      n(): void {}
    }
    expect(routeGrantRequirements(context(C, C.prototype.m))?.map((r) => r.kind)).toEqual(['scopes', 'permissions', 'roles']);
    expect(routeGrantRequirements(context(C, C.prototype.n))?.map((r) => r.kind)).toEqual(['permissions', 'roles']);
    expect(routeGrantRequirements(context(Base, function other() {}))?.map((r) => r.kind)).toEqual(['roles']);
  });

  it('is null on an undecorated route, and read once per route (the same frozen list after)', () => {
    class C {
      m(): void {}
      @Scopes('s')
      d(): void {}
    }
    expect(routeGrantRequirements(context(C, C.prototype.m))).toBeNull();
    const first = routeGrantRequirements(context(C, C.prototype.d));
    expect(routeGrantRequirements(context(C, C.prototype.d))).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('refuse at decoration time what could never be held or would break the challenge header', () => {
    expect(() => Scopes()).toThrow(JwksArgumentError);
    expect(() => Roles.any()).toThrow(/@Roles\.any\(\) needs at least one value/);
    expect(() => Scopes('')).toThrow(/non-empty strings/);
    expect(() => Permissions(42 as unknown as string)).toThrow(/non-empty strings, got number/);
    expect(() => Scopes('read write')).toThrow(/cannot be a scope/);
    expect(() => Permissions('a"b')).toThrow(/cannot be a permission/);
    expect(() => Scopes('a\r\nX-Injected: 1')).toThrow(JwksArgumentError);
    // A role is never written to a header, and may hold a space.
    expect(() => Roles('Org Admin')).not.toThrow();
  });
});
