import { createPublicKey, verify as cryptoVerify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import jsonwebtoken from 'jsonwebtoken';
import { passportJwtSecret } from 'jwks-rsa';
import { createVerifier } from 'fast-jwt';
import buildGetJwks from 'get-jwks';
import { JwksAuthModule, JwtVerifier, type JwksAuthModuleOptions } from '../lib';
import type { TestIssuer } from '../lib/testing';

export type Contender = (token: string) => unknown;

/** One issuer's worth of contenders, all verifying the same tokens against the same JWKS. */
export interface ContenderSet {
  contenders: Record<string, Contender>;
  close(): Promise<void>;
}

const HASH: Record<string, string> = { RS256: 'sha256', ES256: 'sha256' };

/** Authenticates through passport.authenticate with a custom callback, as AuthGuard does per request. */
function throughPassport(strategy: string): Contender {
  return (token) =>
    new Promise((resolve, reject) => {
      const req = { headers: { authorization: `Bearer ${token}` } };
      passport.authenticate(strategy, { session: false }, (err: unknown, user: unknown) => (err ? reject(err) : resolve(user)))(req, {}, reject);
    });
}

export async function buildContenders(issuer: TestIssuer, alg: 'RS256' | 'ES256'): Promise<ContenderSet> {
  const jose = await import('jose');
  const keyObject: KeyObject = createPublicKey({ key: issuer.publicJwk(), format: 'jwk' });
  const rawInput: VerifyKeyObjectInput = alg === 'ES256' ? { key: keyObject, dsaEncoding: 'ieee-p1363' } : { key: keyObject };
  const common = { issuer: issuer.issuer, audience: issuer.audience };

  // The usual NestJS recipe: passport-jwt + jwks-rsa's passportJwtSecret (its cache on).
  const usualName = `usual-${alg}`;
  passport.use(
    usualName,
    new JwtStrategy(
      {
        jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
        secretOrKeyProvider: passportJwtSecret({ jwksUri: issuer.jwksUri, cache: true, rateLimit: false }),
        algorithms: [alg],
        ...common,
      },
      (payload: unknown, done: (err: unknown, user: unknown) => void) => done(null, payload),
    ),
  );

  const jwks = jose.createRemoteJWKSet(new URL(issuer.jwksUri));
  const getJwks = buildGetJwks({});
  const fastJwtOptions = {
    algorithms: [alg],
    allowedIss: issuer.issuer,
    allowedAud: issuer.audience,
    key: async ({ header }: { header: { kid: string; alg: string } }) => getJwks.getPublicKey({ kid: header.kid, alg: header.alg, domain: issuer.issuer }),
  };
  const fastJwt = createVerifier(fastJwtOptions as never) as unknown as Contender;
  const fastJwtCached = createVerifier({ ...fastJwtOptions, cache: true } as never) as unknown as Contender;

  const nestOptions: JwksAuthModuleOptions = { ...common, jwksUri: issuer.jwksUri, algorithms: [alg] };
  // Passport strategies are registered by name, globally: the plain context comes last so that
  // 'jwks' is its strategy, not the cached one's.
  const oursCached = await NestFactory.createApplicationContext(JwksAuthModule.forRoot({ ...nestOptions, verifiedTokenCache: true }), { logger: false });
  await oursCached.init();
  const ours: INestApplicationContext = await NestFactory.createApplicationContext(JwksAuthModule.forRoot(nestOptions), { logger: false });
  await ours.init();
  const verifier = ours.get(JwtVerifier);
  const cachedVerifier = oursCached.get(JwtVerifier);

  const contenders: Record<string, Contender> = {
    'raw crypto.verify (KeyObject)': (t) => {
      const dot = t.lastIndexOf('.');
      return cryptoVerify(HASH[alg], Buffer.from(t.slice(0, dot)), rawInput, Buffer.from(t.slice(dot + 1), 'base64url'));
    },
    'jsonwebtoken + KeyObject': (t) => jsonwebtoken.verify(t, keyObject, { algorithms: [alg], ...common }),
    'usual recipe: passport-jwt + jwks-rsa': throughPassport(usualName),
    'jose createRemoteJWKSet + jwtVerify': (t) => jose.jwtVerify(t, jwks, common),
    'fast-jwt + get-jwks': fastJwt,
    'fast-jwt + get-jwks, token cache': fastJwtCached,
    'ours: JwtVerifier': (t) => verifier.verifyOrDefer(t),
    'ours: JwksStrategy via passport': throughPassport('jwks'),
    'ours: JwtVerifier, verified-token cache': (t) => cachedVerifier.verifyOrDefer(t),
  };
  return {
    contenders,
    close: async () => {
      await ours.close();
      await oursCached.close();
    },
  };
}
