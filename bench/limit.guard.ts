import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';

/** Where the guard finds the HTTP request in an execution context. */
export type RequestOf = (context: ExecutionContext) => { headers: Record<string, string | undefined>; user?: unknown };

/**
 * The limit a guard can reach: `crypto.verify` on a `KeyObject` parsed once from the first JWKS
 * key and `JSON.parse` of the payload; no claim check, no key lookup, no refusal headers.
 */
export async function limitGuard(jwksUri: string, requestOf: RequestOf): Promise<Type<CanActivate>> {
  const { keys } = (await (await fetch(jwksUri)).json()) as { keys: Array<Record<string, unknown>> };
  const key = createPublicKey({ key: keys[0] as never, format: 'jwk' });
  @Injectable()
  class LimitGuard implements CanActivate {
    canActivate(context: ExecutionContext): boolean {
      const req = requestOf(context);
      const token = (req.headers.authorization ?? '').slice(7);
      const dot1 = token.indexOf('.');
      const dot2 = token.lastIndexOf('.');
      if (!cryptoVerify('sha256', Buffer.from(token.slice(0, dot2)), key, Buffer.from(token.slice(dot2 + 1), 'base64url'))) {
        throw new UnauthorizedException();
      }
      req.user = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString());
      return true;
    }
  }
  return LimitGuard;
}
