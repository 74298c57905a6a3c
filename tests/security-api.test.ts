// The HTTP API's door: open on a fresh loopback hub, then bearer tokens with roles once any
// token exists; security headers, closed CORS, rate limits and the audit log. Pages from other
// origins, the Host check and the revoked-last-token case are in security-browser and security-closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../hub/security/audit.ts';
import { ApiTokens } from '../hub/security/tokens.ts';
import { startTestHub, type TestHub } from './support/hub.ts';

const senml = JSON.stringify([{ bn: 'api-1/', n: 'temperature', u: 'Cel', v: 21 }]);
const post = (token?: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/senml+json', ...(token && { authorization: `Bearer ${token}` }) },
  body: senml,
});
const get = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

describe('API access', () => {
  let hub: TestHub;
  let clock = Date.UTC(2025, 5, 1, 12);
  const tokens: Record<'viewer' | 'operator' | 'admin', string> = { viewer: '', operator: '', admin: '' };

  beforeAll(async () => {
    hub = await startTestHub({ now: () => clock, config: { limits: { api_requests_per_minute: 40 } } });
  });
  afterAll(async () => hub?.dispose());

  it('is open on a fresh loopback hub, with security headers; a page from another origin gets no CORS and is turned away', async () => {
    const response = await hub.api('/api/v1/devices');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    const foreign = await hub.api('/api/v1/devices', { headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await hub.api('/api/v1/readings', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('needs a token for every request once one exists: no token → 401', async () => {
    const store = new ApiTokens(hub.dataDir);
    for (const role of ['viewer', 'operator', 'admin'] as const) tokens[role] = store.create(`${role}-1`, role, clock);
    const response = await hub.api('/api/v1/devices');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await response.json()) as { message: string }).message).toMatch(/Authorization: Bearer/);
    expect((await hub.api('/api/v1/devices', get('fwt_not-a-real-token'))).status).toBe(401);
    expect((await hub.api('/api/v1/readings', post())).status).toBe(401);
    // Health stays open for load balancers.
    expect((await hub.api('/api/v1/health')).status).toBe(200);
  });

  it('lets a viewer read but not act (403); an operator may', async () => {
    expect((await hub.api('/api/v1/devices', get(tokens.viewer))).status).toBe(200);
    const silence = (token: string): RequestInit => ({
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: { device: 'api-1' }, duration: '1h', createdBy: 'li.wei' }),
    });
    const refused = await hub.api('/api/v1/silences', silence(tokens.viewer));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toMatch(
      /viewer-1 has the viewer role; POST \/api\/v1\/silences needs operator/,
    );
    expect((await hub.api('/api/v1/silences', silence(tokens.operator))).status).toBe(201);
    // Readings come from devices and ingest tokens, never from a person's token (security-ingest.test.ts).
    expect((await hub.api('/api/v1/readings', post(tokens.operator))).status).toBe(403);
    // Acknowledging an alert is an operator's action: a viewer is refused before the alert is even looked up.
    const ack = (token: string) =>
      hub.api('/api/v1/alerts/no-such-alert/ack', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ by: 'someone' }),
      });
    expect((await ack(tokens.viewer)).status).toBe(403);
    expect((await ack(tokens.operator)).status).not.toBe(403);
  });

  it('keeps the audit log for admins only', async () => {
    expect((await hub.api('/api/v1/audit', get(tokens.operator))).status).toBe(403);
    new AuditLog(hub.dataDir, () => clock).record('cli:facilities', 'device.add', { device: 't-17', zone: 'floor-a' });
    const response = await hub.api('/api/v1/audit?action=device.add', get(tokens.admin));
    expect(response.status).toBe(200);
    expect(((await response.json()) as { entries: unknown[] }).entries).toEqual([
      { at: clock, who: 'cli:facilities', action: 'device.add', details: { device: 't-17', zone: 'floor-a' } },
    ]);
  });

  it('stops a revoked token at once', async () => {
    new ApiTokens(hub.dataDir).revoke('operator-1', clock);
    expect((await hub.api('/api/v1/devices', get(tokens.operator))).status).toBe(401);
  });

  it('answers 429 with Retry-After above the per-minute limit, and lets the caller back a minute later', async () => {
    clock += 60_000;
    const statuses: number[] = [];
    for (let i = 0; i < 41; i++) statuses.push((await hub.api('/api/v1/devices', get(tokens.viewer))).status);
    expect(statuses.slice(0, 40).every((s) => s === 200)).toBe(true);
    const limited = await hub.api('/api/v1/devices', get(tokens.viewer));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    clock += 60_000;
    expect((await hub.api('/api/v1/devices', get(tokens.viewer))).status).toBe(200);
  });
});
