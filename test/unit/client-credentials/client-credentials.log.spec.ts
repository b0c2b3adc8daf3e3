import { clientCredentialsLogListener, type ClientCredentialsEvent } from '../../../lib/client-credentials/client-credentials.events';

describe('client-credentials log lines', () => {
  const setup = () => {
    const lines: string[] = [];
    const listener = clientCredentialsLogListener({ warn: (m) => void lines.push(`W ${m}`), log: (m) => void lines.push(`L ${m}`) });
    return { lines, emit: (e: ClientCredentialsEvent) => listener(e) };
  };
  const base = { issuer: 'https://tenant.auth0.com', audience: 'https://api/' } as const;

  it('names a failed request by its HTTP status or its kind, and nothing for a success', () => {
    const { lines, emit } = setup();
    emit({ ...base, type: 'client-token-requested', trigger: 'demand', outcome: 'ok', status: 200, durationMs: 3 });
    emit({ ...base, type: 'client-token-requested', trigger: 'demand', outcome: 'status', status: 429, durationMs: 3, message: 'token endpoint answered 429' });
    emit({ ...base, type: 'client-token-requested', trigger: 'ahead', outcome: 'invalid-client', status: 401, durationMs: 3, message: 'invalid_client' });
    emit({ ...base, type: 'client-token-requested', trigger: 'ahead', outcome: 'timeout', durationMs: 5000, message: 'timed out' });
    expect(lines).toEqual([
      'W client credentials: token request for audience "https://api/" failed (HTTP 429): token endpoint answered 429',
      'W client credentials: token request for audience "https://api/" failed (invalid-client, HTTP 401): invalid_client',
      'W client credentials: token request for audience "https://api/" failed (timeout): timed out',
    ]);
  });

  it('says when a token is served inside its margin, and until when the endpoint is not asked', () => {
    const { lines, emit } = setup();
    emit({ ...base, type: 'client-token-stale-served', reason: 'throttled', remainingMs: 61_400 });
    emit({ ...base, type: 'client-token-throttled', retryAt: Date.UTC(2026, 10, 23, 9, 0, 0), source: 'retry-after' });
    expect(lines).toEqual([
      'W client credentials: serving a token for audience "https://api/" inside its refresh margin (61 s left): the token endpoint throttles us',
      'W client credentials: no token request for audience "https://api/" before 2026-11-23T09:00:00.000Z (retry-after)',
    ]);
  });
});
