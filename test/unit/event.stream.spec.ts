import { jest } from '@jest/globals';
import { JwksAuthEvents } from '../../lib/events/event.stream';
import type { JwksAuthEvent } from '../../lib/events/jwks-auth.events';

const revoked: JwksAuthEvent = { type: 'key-revoked', jwksUri: 'https://idp.example/jwks', kid: 'k1', issuer: 'https://idp.example/' };
const unknown: JwksAuthEvent = { type: 'unknown-kid', jwksUri: 'https://idp.example/jwks', action: 'cooldown', issuer: 'https://idp.example/' };

describe('JwksAuthEvents', () => {
  it('emits each event under its type and under "event"', () => {
    const events = new JwksAuthEvents();
    const byType: string[] = [];
    const all: string[] = [];
    events.on('key-revoked', (e) => byType.push(e.kid));
    events.on('event', (e) => all.push(e.type));
    events.listener(revoked);
    events.listener(unknown);
    expect(byType).toEqual(['k1']);
    expect(all).toEqual(['key-revoked', 'unknown-kid']);
  });

  it('runs a once() subscriber once, and the others after one that throws', () => {
    const events = new JwksAuthEvents();
    const seen: string[] = [];
    events.on('event', () => {
      throw new Error('broken');
    });
    events.once('event', (e) => seen.push(`once ${e.type}`));
    events.on('event', (e) => seen.push(e.type));
    expect(() => events.listener(revoked)).not.toThrow();
    events.listener(unknown);
    expect(seen).toEqual(['once key-revoked', 'key-revoked', 'unknown-kid']);
    expect(events.listenerCount('event')).toBe(2);
  });

  it('does not warn about many subscribers (several services may listen to one module)', () => {
    const events = new JwksAuthEvents();
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    for (let i = 0; i < 50; i++) events.on('event', () => undefined);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });
});
