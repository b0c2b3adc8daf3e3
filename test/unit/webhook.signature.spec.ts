import { createHmac } from 'node:crypto';
import { signWebhookBody, verifyWebhookSignature, WebhookReplayGuard } from '../../lib/webhook/webhook.signature';
import { parseWebhookNotice } from '../../lib/webhook/webhook-notice.parser';
import { parseAuth0LogStream } from '../../lib/webhook/auth0-log-stream.parser';
import { WebhookBodyError } from '../../lib/webhook/webhook.action';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksOptionsError } from '../../lib/errors/jwks.errors';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';
import { FakeClock } from '../../lib/testing';

const SECRET = 'a'.repeat(64);
const body = Buffer.from('{"event":"revoke","kid":"k1"}');

describe('verifyWebhookSignature (fake clock)', () => {
  let clock: FakeClock;
  let replay: WebhookReplayGuard;
  const nowSec = () => Math.floor(clock.now() / 1000);
  const header = (t: number, b: Buffer | string = body, secret = SECRET) => `t=${t},v1=${signWebhookBody(secret, t, b)}`;
  const verify = (h: string | string[] | undefined, b: Buffer = body) => verifyWebhookSignature({ header: h, body: b, secret: SECRET, nowSec: nowSec(), replay });

  beforeEach(() => {
    clock = new FakeClock(1_800_000_000_000);
    replay = new WebhookReplayGuard();
  });

  it('accepts a notice signed with the secret over the raw body, as openssl would compute it', () => {
    const t = nowSec();
    const v1 = createHmac('sha256', SECRET).update(`${t}.${body.toString()}`).digest('hex');
    expect(verify(`t=${t},v1=${v1}`)).toEqual({ ok: true });
  });

  it('refuses a forged signature, a wrong secret and a body changed by one byte', () => {
    const t = nowSec();
    expect(verify(`t=${t},v1=${'0'.repeat(64)}`)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(header(t, body, 'b'.repeat(64)))).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(header(t), Buffer.from('{"event":"revoke","kid":"k2"}'))).toEqual({ ok: false, reason: 'mismatch' });
    // Whitespace matters: the HMAC is over the bytes sent, not over re-serialised JSON.
    expect(verify(header(t), Buffer.from('{"event": "revoke","kid":"k1"}'))).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('refuses a replay inside the window, and a forged one does not use up the real one', () => {
    const t = nowSec();
    expect(verify(`t=${t},v1=${'f'.repeat(64)}`).ok).toBe(false);
    expect(verify(header(t))).toEqual({ ok: true });
    clock.advance(60_000);
    expect(verify(header(t))).toEqual({ ok: false, reason: 'replayed' });
    // The same body signed at another second is a new notice.
    expect(verify(header(nowSec()))).toEqual({ ok: true });
  });

  it('refuses a time outside the 5-minute window either way, and accepts its edges', () => {
    const t = nowSec();
    expect(verify(header(t - WEBHOOK_DEFAULTS.toleranceSec - 1))).toEqual({ ok: false, reason: 'outside-window' });
    expect(verify(header(t + WEBHOOK_DEFAULTS.toleranceSec + 1))).toEqual({ ok: false, reason: 'outside-window' });
    expect(verify(header(t - WEBHOOK_DEFAULTS.toleranceSec))).toEqual({ ok: true });
    const signedNow = header(t);
    clock.advance((WEBHOOK_DEFAULTS.toleranceSec + 1) * 1000);
    expect(verify(signedNow)).toEqual({ ok: false, reason: 'outside-window' });
  });

  it.each([
    ['', 'missing'],
    [undefined, 'missing'],
    ['v1=' + 'a'.repeat(64), 'malformed'],
    ['t=1800000000', 'malformed'],
    ['t=1800000000,v1=abc', 'malformed'],
    ['t=1800000000,v1=' + 'A'.repeat(64), 'malformed'],
    ['t=1e9,v1=' + 'a'.repeat(64), 'malformed'],
    ['t=01800000000,v1=' + 'a'.repeat(64), 'malformed'],
    ['t=1800000000,t=1800000000,v1=' + 'a'.repeat(64), 'malformed'],
    ['t=1800000000;v1=' + 'a'.repeat(64), 'malformed'],
    ['t=1800000000,v1=' + 'a'.repeat(64) + ',v1=' + 'b'.repeat(600), 'malformed'],
    [['t=1800000000,v1=' + 'a'.repeat(64), 't=1800000000,v1=' + 'a'.repeat(64)], 'malformed'],
  ].map(([h, reason]) => [typeof h === 'string' && h.length > 100 ? `${h.slice(0, 40)}… (${h.length} chars)` : JSON.stringify(h), reason, h]))('refuses the malformed header %s (%s)', (_label, reason, h) => {
    expect(verify(h as string | string[] | undefined)).toEqual({ ok: false, reason });
  });

  it('accepts any of several v1 values (a secret being rotated) and still refuses none matching', () => {
    const t = nowSec();
    expect(verify(`t=${t},v1=${signWebhookBody('c'.repeat(64), t, body)},v1=${signWebhookBody(SECRET, t, body)}`)).toEqual({ ok: true });
  });

  it('refuses an oversized body before computing anything', () => {
    const big = Buffer.alloc(WEBHOOK_DEFAULTS.maxBodyBytes + 1, 0x20);
    expect(verify(header(nowSec(), big), big)).toEqual({ ok: false, reason: 'oversized' });
  });

  it('remembers a bounded number of signatures, expired ones dropped first', () => {
    const guard = new WebhookReplayGuard(3, 300);
    for (let i = 0; i < 5; i++) expect(guard.accept(`s${i}`, 1000)).toBe(true);
    expect(guard.size).toBe(3);
    expect(guard.accept('s4', 1000)).toBe(false);
    expect(guard.accept('s5', 1000 + 601)).toBe(true);
    expect(guard.size).toBe(1);
  });
});

describe('parseWebhookNotice', () => {
  const parse = (s: string) => parseWebhookNotice(Buffer.from(s));
  it('reads refresh, revoke and restore with an optional issuer', () => {
    expect(parse('{"event":"refresh"}')).toEqual({ event: 'refresh' });
    expect(parse('{"event":"revoke","kid":"k","issuer":"https://i/"}')).toEqual({ event: 'revoke', kid: 'k', issuer: 'https://i/' });
    expect(parse('{"event":"restore","kid":"k"}')).toEqual({ event: 'restore', kid: 'k' });
  });
  it.each(['not json', '[]', '{"event":"delete"}', '{"event":"revoke"}', '{"event":"revoke","kid":""}', '{"event":"revoke","kid":7}', '{"event":"refresh","kid":"k"}', '{"event":"revoke","kid ":"k"}', `{"event":"revoke","kid":"${'k'.repeat(3000)}"}`].map((b) => [b.length > 80 ? `${b.slice(0, 30)}… (${b.length} chars)` : b, b]))(
    'refuses %s with a typed error',
    (_label, s) => {
      expect(() => parse(s)).toThrow(WebhookBodyError);
    },
  );
});

describe('parseAuth0LogStream', () => {
  const sapi = (method: string, path: string, statusCode = 201) => ({ type: 'sapi', description: 'Management API call', details: { request: { method, path }, response: { statusCode } } });
  it('finds rotations and revocations in an array, wrapped or not, and ignores everything else', () => {
    const batch = [
      { log_id: '1', data: { type: 's', description: 'Success Login' } },
      { log_id: '2', data: sapi('post', '/api/v2/keys/signing/rotate') },
      sapi('put', '/api/v2/keys/signing/abc%2F1/revoke', 200),
      { log_id: '4', data: sapi('patch', '/api/v2/clients/x') },
      { log_id: '5', data: sapi('post', '/api/v2/keys/signing/rotate', 429) },
      'junk',
    ];
    expect(parseAuth0LogStream(Buffer.from(JSON.stringify(batch)))).toEqual([{ event: 'refresh' }, { event: 'revoke', kid: 'abc/1' }]);
    expect(parseAuth0LogStream(Buffer.from(JSON.stringify(batch)), 'https://t/')).toEqual([{ event: 'refresh', issuer: 'https://t/' }, { event: 'revoke', kid: 'abc/1', issuer: 'https://t/' }]);
  });
  it('reads one object and JSON lines', () => {
    expect(parseAuth0LogStream(Buffer.from(JSON.stringify({ log_id: '1', data: sapi('POST', '/api/v2/keys/signing/rotate') })))).toEqual([{ event: 'refresh' }]);
    const lines = [{ data: sapi('POST', '/api/v2/keys/signing/rotate') }, { data: sapi('PUT', '/api/v2/keys/signing/k9/revoke') }].map((e) => JSON.stringify(e)).join('\n');
    expect(parseAuth0LogStream(Buffer.from(lines))).toEqual([{ event: 'refresh' }, { event: 'revoke', kid: 'k9' }]);
  });
  it('refuses a body that is not JSON', () => {
    expect(() => parseAuth0LogStream(Buffer.from('{nope'))).toThrow(WebhookBodyError);
  });
});

describe('the webhook option', () => {
  const base = { issuer: 'https://issuer.example/', jwksUri: 'https://issuer.example/jwks', audience: 'api' };
  const problems = (webhook: unknown): string[] => {
    try {
      resolveJwksOptions({ ...base, webhook } as never);
      return [];
    } catch (err) {
      return (err as JwksOptionsError).problems;
    }
  };
  it('is off by default and resolves the default path', () => {
    expect(resolveJwksOptions(base).webhook).toBeNull();
    expect(resolveJwksOptions({ ...base, webhook: { secret: SECRET } }).webhook).toEqual({ path: '/jwks-auth/webhook', secret: SECRET, auth0: null });
  });
  it('refuses short secrets, bad paths, unknown keys and an Auth0 issuer not configured, never echoing a secret', () => {
    const found = [
      ...problems({ secret: 'short-secret' }),
      ...problems({ secret: SECRET, path: 'no-slash' }),
      ...problems({ secret: SECRET, path: '/a/../b' }),
      ...problems({ secret: SECRET, pth: '/x' }),
      ...problems({ auth0: { authorization: 'Bearer tooshort' } }),
      ...problems({ auth0: { authorization: 'Bearer ' + 'x'.repeat(32), issuer: 'https://other/' } }),
      ...problems({}),
    ];
    expect(found.length).toBeGreaterThanOrEqual(7);
    expect(found.join('\n')).not.toContain('short-secret');
    expect(found.join('\n')).not.toContain('tooshort');
  });
});
