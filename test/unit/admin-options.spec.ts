import { JwksAuthModule, JwksOptionsError } from '../../lib';
import { resolveAdminOptions } from '../../lib/admin/admin.options';

const base = { issuer: 'https://idp.example/', jwksUri: 'https://idp.example/jwks.json', audience: 'api' };

describe('admin option', () => {
  it('is off when absent', () => {
    expect(resolveAdminOptions(undefined)).toBeNull();
    expect(JwksAuthModule.forRoot(base).controllers ?? []).toEqual([]);
  });

  it('refuses admin without a guard, for forRoot and forRootAsync', () => {
    // @ts-expect-error guard is required
    expect(() => JwksAuthModule.forRoot({ ...base, admin: {} })).toThrow(/the admin routes must be guarded: give admin\.guard/);
    // @ts-expect-error guard is required
    expect(() => JwksAuthModule.forRootAsync({ admin: { path: 'x' }, useFactory: () => base })).toThrow(JwksOptionsError);
  });

  it('refuses a guard that is not one, a bad path, bad scopes and unknown keys, all listed', () => {
    let error: unknown;
    try {
      resolveAdminOptions({ guard: { can: true }, path: '../x', scopes: ['a b'], gaurd: 1 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(JwksOptionsError);
    const problems = (error as JwksOptionsError).problems.join('\n');
    expect(problems).toMatch(/admin\.guard must be a guard class or instance/);
    expect(problems).toMatch(/admin\.path/);
    expect(problems).toMatch(/admin\.scopes/);
    expect(problems).toMatch(/admin\.gaurd/);
    expect(() => resolveAdminOptions('yes')).toThrow(/admin must be/);
  });

  it('adds one controller at the default path, or at admin.path', () => {
    const guard = { canActivate: () => true };
    const module = JwksAuthModule.forRoot({ ...base, admin: { guard } });
    expect(module.controllers).toHaveLength(1);
    expect(Reflect.getMetadata('path', module.controllers![0])).toBe('jwks-auth/admin');
    const custom = JwksAuthModule.forRoot({ ...base, admin: { guard, path: '/ops/jwks' } });
    expect(Reflect.getMetadata('path', custom.controllers![0])).toBe('ops/jwks');
    expect(custom.controllers![0]).not.toBe(module.controllers![0]);
  });
});
