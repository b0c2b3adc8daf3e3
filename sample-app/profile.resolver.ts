import { UseGuards } from '@nestjs/common';
import { Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, JwksAuthGuard, JwksCacheService, Roles, Scopes, type JwtClaims } from 'nestjs-jwks-auth';
import { KeySet, Profile } from './profile.model';

/**
 * GraphQL (POST /graphql) behind the same guard as the REST routes. A refusal is a GraphQL error
 * on the field, not an HTTP status: `extensions.code` is UNAUTHENTICATED (no or bad token) or
 * FORBIDDEN (a valid token without the scope or role), the field is null, HTTP answers 200.
 */
@Resolver()
@UseGuards(JwksAuthGuard)
export class ProfileResolver {
  constructor(private readonly jwks: JwksCacheService) {}

  /** Either our API's scope or OIDC's standard `profile` scope will do. */
  @Query(() => Profile)
  @Scopes.any('read:profile', 'profile')
  me(@CurrentUser() claims: JwtClaims): Profile {
    const scope = typeof claims.scope === 'string' ? claims.scope : '';
    return { sub: claims.sub ?? '', scopes: scope.split(' ').filter(Boolean) };
  }

  /** Only for tokens whose `roles` claim (or Keycloak's `realm_access.roles`, Cognito's groups) holds `admin`. */
  @Query(() => KeySet)
  @Roles('admin')
  keySet(): KeySet {
    const { phase, keyCount, revokedKids } = this.jwks.getState();
    return { phase, keyCount, revokedKids };
  }
}
