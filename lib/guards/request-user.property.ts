/**
 * Where the guard wrote the user on a request, when not in `user` (PassportModule's `property`,
 * or the `userProperty` option): `@CurrentUser()` reads it there. Not set when the property is
 * `user`, so the default path writes nothing more.
 */
export const REQUEST_USER_PROPERTY: unique symbol = Symbol('jwks-auth:userProperty');

/** The user the guard wrote on `request`, wherever it was written. */
export function requestUser(request: unknown): unknown {
  if (typeof request !== 'object' || request === null) return undefined;
  const r = request as Record<string | symbol, unknown>;
  const property = r[REQUEST_USER_PROPERTY];
  return typeof property === 'string' ? r[property] : r.user;
}

/**
 * A property name the user may be written under: not one that would change the request's
 * prototype or shadow what every object has.
 */
export function isUsableUserProperty(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(value) && value !== '__proto__' && value !== 'constructor' && value !== 'prototype' && !(value in Object.prototype);
}
