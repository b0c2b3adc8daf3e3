import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwtVerifier } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';
import { b64, craft } from '../fixtures/craft';

/**
 * One test per attack class of shared/REFERENCE.md, each with several variants. Every attack must
 * get a 401 (never a 500), and none may reach the JWKS endpoint: the cooldown window is opened
 * once before the suite and the fake clock keeps it open, so even tokens that pass the cheap
 * checks with an unknown kid cannot cause a fetch. A separate test shows that tokens failing the
 * cheap checks fetch nothing even outside a cooldown.
 */
describe('attack classes over HTTP', () => {
  let issuer: TestIssuer;
  let other: TestIssuer;
  let app: INestApplication;
  let lure: Server;
  let lureHits = 0;
  let lureUrl = '';
  const clock = new FakeClock();
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = () => Math.floor(clock.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: issuer.issuer, aud: issuer.audience, sub: 'mallory', iat: now(), exp: now() + 300, ...extra });

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    issuer.addKey({ alg: 'ES256', kid: 'ec-key' });
    other = await TestIssuer.start({ audience: 'https://api.example.test' });
    lure = createServer((_req, res) => {
      lureHits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...attacker.publicKey.export({ format: 'jwk' }), kid: 'evil' }] }));
    });
    await new Promise<void>((r) => lure.listen(0, '127.0.0.1', r));
    lureUrl = `http://127.0.0.1:${(lure.address() as AddressInfo).port}/jwks.json`;
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { algorithms: ['RS256', 'ES256'] }))] }, { clock });
    // Open the unknown-kid cooldown window once; the frozen fake clock keeps it open.
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({}, { header: { kid: 'prime' } })}`).expect(401);
    issuer.resetCounts();
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
    await other.close();
    await new Promise((r) => lure.close(r));
  });

  /** Each token gets 401 with the challenge, and the JWKS endpoints see no request. */
  async function expectAllRefused(tokens: Array<string | undefined>): Promise<void> {
    const before = issuer.requestCount;
    for (const token of tokens) {
      const req = request(app.getHttpServer()).get('/me');
      const res = await (token === undefined ? req : req.set('Authorization', `Bearer ${token}`));
      expect({ token: token?.slice(0, 80), status: res.status }).toEqual({ token: token?.slice(0, 80), status: 401 });
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    }
    expect(issuer.requestCount).toBe(before);
    expect(lureHits).toBe(0);
  }

  it('sanity: a genuine token passes', async () => {
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
  });

  it('token structure: segments, alphabet, canonical base64url, non-object JSON, JWE, JSON serialization, size', async () => {
    const good = issuer.sign();
    const [h, p, s] = good.split('.');
    const lastFlipped = (seg: string) => seg.slice(0, -1) + (seg.at(-1) === 'A' ? 'B' : seg.at(-1) === 'Q' ? 'R' : String.fromCharCode(seg.charCodeAt(seg.length - 1) + 1));
    await expectAllRefused([
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${p}.${s}.${s}.${s}`, // JWE-shaped
      `.${p}.${s}`,
      `${h}..${s}`,
      `${h}.${p}.`,
      '..',
      `${h}.${p}.${s}=`,
      `${h}=.${p}.${s}`,
      `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+/`,
      `${h}.${p}?.${s}`,
      `${h}.${p}.${s}%`,
      `${h} .${p}.${s}`,
      `${h}.${p.length % 4 === 2 || p.length % 4 === 3 ? lastFlipped(p) : p + 'B'}.${s}`, // non-canonical: same bytes, other spelling
      craft('["alg","RS256"]', b64(claims())),
      craft(b64('"RS256"'), b64(claims())),
      craft(b64('null'), b64(claims())),
      craft(b64('{"alg":"RS256"'), b64(claims())),
      craft({ alg: 'RS256', kid: issuer.kid }, b64('[1,2,3]'), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: issuer.kid }, b64('42'), { rsa: attacker.privateKey }),
      JSON.stringify({ protected: h, payload: p, signature: s }),
      `${h}.${b64({ ...claims(), pad: 'x'.repeat(9000) })}.${s}`,
      'x'.repeat(12_000), // over our 8 KiB cap, under Node's 16 KiB header limit (past which Node itself answers 431)
    ]);
  });

  it('header: alg none in any case, alg outside the allowlist or not a string, crit', async () => {
    const payload = claims();
    await expectAllRefused([
      ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg) => [craft({ alg, kid: issuer.kid }, payload, { signature: '' }), craft({ alg, kid: issuer.kid }, payload, { signature: 'AAAA' })]),
      ...['HS256', 'HS384', 'RS1', 'PS256', 'ES384', 'EdDSA', 'rs256', 'RS256 ', ''].map((alg) => craft({ alg, kid: issuer.kid }, payload, { rsa: attacker.privateKey })),
      ...[null, 256, ['RS256'], { name: 'RS256' }, true].map((alg) => craft({ alg, kid: issuer.kid }, payload, { rsa: attacker.privateKey })),
      craft({ kid: issuer.kid }, payload, { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: issuer.kid, crit: ['exp'] }, payload, { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: issuer.kid, crit: ['b64'], b64: false }, payload, { rsa: attacker.privateKey }),
    ]);
  });

  it('HMAC with the public key as secret, in every encoding of that key', async () => {
    const jwk = issuer.publicJwk();
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const secrets: Array<string | Buffer> = [
      key.export({ type: 'spki', format: 'pem' }) as string,
      key.export({ type: 'pkcs1', format: 'pem' }) as string,
      key.export({ type: 'spki', format: 'der' }),
      JSON.stringify(jwk),
      Buffer.from(jwk.n as string, 'base64url'),
      jwk.n as string,
    ];
    const tokens = secrets.flatMap((secret) =>
      ['HS256', 'RS256'].map((alg) => craft({ alg, kid: issuer.kid, typ: 'JWT' }, claims(), { hmac: secret })),
    );
    await expectAllRefused(tokens);
  });

  it('alg / key-type and curve mismatch', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { sign } = await import('node:crypto');
    const esOverRsaKid = (() => {
      const input = `${b64({ alg: 'ES256', kid: issuer.kid })}.${b64(claims())}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    })();
    await expectAllRefused([
      esOverRsaKid, // ES256 header naming an RSA key
      craft({ alg: 'RS256', kid: 'ec-key' }, claims(), { rsa: attacker.privateKey }), // RS256 header naming the EC key
      issuer.sign({}, { kid: 'ec-key', alg: 'ES256', header: { alg: 'ES256' } }).replace(/\.[^.]+$/, `.${Buffer.alloc(65, 7).toString('base64url')}`), // wrong P1363 length
    ]);
  });

  it('embedded jwk / jku / x5u / x5c are ignored and never fetched', async () => {
    const evilJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'evil' };
    const der = attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    await expectAllRefused([
      craft({ alg: 'RS256', kid: 'evil', jwk: evilJwk }, claims(), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', jwk: evilJwk }, claims(), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: 'evil', jku: lureUrl }, claims(), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: issuer.kid, jku: lureUrl }, claims(), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: 'evil', x5u: lureUrl }, claims(), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: 'evil', x5c: [der] }, claims(), { rsa: attacker.privateKey }),
    ]);
  });

  it('hostile kid values: traversal, SQL, CRLF, huge, non-string, prototype names', async () => {
    const kids: unknown[] = [
      '../../../../etc/passwd', '/dev/random', "' OR '1'='1", '1; DROP TABLE keys', 'a\r\nSet-Cookie: x=1', 'x'.repeat(5000),
      '', ' ', '\u0000', '<script>', 42, null, true, ['kid'], { kid: issuer.kid },
      '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf',
    ];
    await expectAllRefused(kids.map((kid) => craft({ alg: 'RS256', kid }, claims(), { rsa: attacker.privateKey })));
  });

  it('claims: exp/nbf/iat missing, non-numeric or non-finite, outside tolerance; iss not exact; aud missing or foreign', async () => {
    const signed = (payload: unknown) => (typeof payload === 'string' ? issuer.sign({}, {}).split('.')[0] + '.' + b64(payload) + '.x' : issuer.sign(payload as Record<string, unknown>));
    const variants: Array<Record<string, unknown>> = [
      { exp: undefined }, { exp: null }, { exp: '9999999999' }, { exp: [now() + 300] }, { exp: {} }, { exp: true },
      { exp: now() - 1 }, { exp: now() },
      { nbf: now() + 60 }, { nbf: 'yesterday' }, { nbf: null },
      { iat: 'now' }, { iat: null }, { iat: [] },
      { iss: issuer.issuer.slice(0, -1) }, { iss: `${issuer.issuer}/` }, { iss: issuer.issuer.toUpperCase() }, { iss: ` ${issuer.issuer}` },
      { iss: [issuer.issuer] }, { iss: null }, { iss: undefined }, { iss: other.issuer },
      { aud: undefined }, { aud: null }, { aud: 'https://other-api' }, { aud: [] }, { aud: ['https://other-api'] },
      { aud: [[issuer.audience]] }, { aud: { [issuer.audience]: true } }, { aud: issuer.audience.toUpperCase() },
    ];
    const tokens = variants.map((v) => signed(v));
    // Non-finite numbers need raw JSON text: 1e400 parses to Infinity.
    const raw = (text: string) => craft({ alg: 'RS256', kid: issuer.kid }, b64(text), { rsa: attacker.privateKey });
    const base = JSON.stringify(claims()).slice(1, -1).replace(/"exp":\d+,?/, '');
    tokens.push(raw(`{${base},"exp":1e400}`), raw(`{${base},"exp":-1e400}`), raw(`{${base.replace(/"iat":\d+,?/, '')},"exp":${now() + 300},"iat":1e400}`));
    await expectAllRefused(tokens);
  });

  it("keys of one issuer never verify another issuer's tokens", async () => {
    await expectAllRefused([
      other.sign({ aud: issuer.audience }), // other issuer's own token, its own kid
      other.sign({ iss: issuer.issuer, aud: issuer.audience }), // claims our issuer, signed with the other issuer's key
      other.sign({ iss: issuer.issuer, aud: issuer.audience }, { kid: other.kid, header: { kid: issuer.kid } }), // and names our kid
    ]);
  });

  it('claims cannot pollute prototypes', async () => {
    const proto = (text: string) => craft({ alg: 'RS256', kid: issuer.kid }, b64(text), { rsa: attacker.privateKey });
    const base = JSON.stringify(claims()).slice(1, -1);
    await expectAllRefused([
      proto(`{${base},"__proto__":{"admin":true}}`),
      proto(`{${base},"nested":{"deep":{"__proto__":{"admin":true}}}}`),
      proto(`{${base},"\\u005f\\u005fproto\\u005f\\u005f":{"admin":true}}`),
      proto(`{${base},"list":[{"__proto__":{"admin":true}}]}`),
    ]);
    // A genuine token whose claims carry such names is refused too, and nothing leaks into Object.prototype.
    const genuine = issuer.sign({ nested: JSON.parse('{"__proto__":{"polluted":true}}') });
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${genuine}`).expect(401);
    const res = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ constructor: { prototype: { polluted: true } } })}`).expect(200);
    expect(res.body.constructor).toEqual({ prototype: { polluted: true } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('amplification: sequential and concurrent floods of unknown kids cause no fetch inside the cooldown', async () => {
    const forged = () => craft({ alg: 'RS256', kid: randomUUID() }, claims(), { rsa: attacker.privateKey });
    const before = issuer.requestCount;
    for (let i = 0; i < 200; i++) await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${forged()}`).expect(401);
    await Promise.all(Array.from({ length: 300 }, () => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${forged()}`).expect(401)));
    expect(issuer.requestCount).toBe(before);
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
  });

  it('hostile key sets: symmetric keys, duplicate kids and private members never let a forged token through', async () => {
    const cache = app.get(JwksCacheService);
    const genuine = issuer.sign({}, { expiresInSec: 3600 });
    const bystander = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const secret = 'shared-secret-shared-secret-1234';
    issuer.setFault({
      body: {
        keys: [
          // A second key under the genuine kid, listed first: the genuine token must still verify
          // through the key that signed it, and a forged one through neither.
          { ...bystander.publicKey.export({ format: 'jwk' }), kid: issuer.kid },
          issuer.publicJwk(),
          { kty: 'oct', kid: 'hmac', k: Buffer.from(secret).toString('base64url'), alg: 'HS256' },
          { ...attacker.privateKey.export({ format: 'jwk' }), kid: 'leaked' },
        ],
      },
    });
    await cache.refresh();
    issuer.clearFault();
    expect(cache.getState()).toMatchObject({ keyCount: 2, rejectedKeyCount: 2 });
    const before = issuer.requestCount;
    await expectAllRefused([
      craft({ alg: 'HS256', kid: 'hmac' }, claims(), { hmac: secret }),
      craft({ alg: 'RS256', kid: issuer.kid }, claims(), { rsa: attacker.privateKey }),
      craft({ alg: 'RS256', kid: 'leaked' }, claims(), { rsa: attacker.privateKey }),
    ]);
    expect(issuer.requestCount).toBe(before);
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${genuine}`).expect(200);
    await cache.refresh();
  });

  it('tokens that fail the cheap checks cause no fetch even outside a cooldown', async () => {
    const fresh = await TestIssuer.start();
    const freshApp = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(fresh))] }, { clock: new FakeClock() });
    const verifier = freshApp.get(JwtVerifier);
    const payload = { iss: fresh.issuer, aud: fresh.audience, exp: now() + 300 };
    const cheapFailures = [
      'a.b', 'x'.repeat(10_000), `${b64({ alg: 'none', kid: 'new' })}.${b64(payload)}.`, craft({ alg: 'HS256', kid: 'new' }, payload, { hmac: 'k' }),
      craft({ alg: 'RS256', kid: 'a\nb' }, payload), craft({ alg: 'RS256', kid: 'new', crit: ['x'] }, payload),
      craft({ alg: 'RS256', kid: 'new' }, { ...payload, exp: now() - 10 }), craft({ alg: 'RS256', kid: 'new' }, { ...payload, iss: 'https://evil/' }),
      craft({ alg: 'RS256', kid: 'new' }, { ...payload, aud: 'other' }), craft({ alg: 'RS256', kid: 'new' }, b64(`{"iss":"${fresh.issuer}","aud":"${fresh.audience}","exp":${now() + 300},"__proto__":{}}`)),
    ];
    for (const t of cheapFailures) await expect(verifier.verify(t)).rejects.toThrow();
    expect(fresh.requestCount).toBe(1); // the warm-up only
    await freshApp.close();
    await fresh.close();
  });
});
