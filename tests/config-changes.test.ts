// What a reloaded configuration changes against the running one, and which of it waits for a restart.
import { describe, expect, it } from 'vitest';
import { appliedConfig, configChanges, configHash } from '../hub/config/changes.ts';
import { loadConfig } from '../hub/config/config.ts';
import { tempDir, testEnv } from './support/hub.ts';

const dataDir = tempDir();
const config = (settings: Record<string, unknown>) => loadConfig({ env: testEnv(dataDir, { config: settings }) });

describe('configChanges', () => {
  const running = config({
    zones: [{ id: 'floor-a', type: 'call_floor' }],
    devices: [
      { id: 's-1', kind: 'sensor', zone: 'floor-a' },
      { id: 'constructor', kind: 'sensor', zone: 'floor-a' },
    ],
  });

  it('names zones and devices added, removed and changed, and applies them', () => {
    const next = config({
      zones: [{ id: 'hasOwnProperty', type: 'quiet_room' }],
      devices: [
        { id: 's-1', kind: 'sensor', zone: 'hasOwnProperty' },
        { id: 'toString', kind: 'phone' },
      ],
    });
    const changes = configChanges(running, next);
    expect(changes).toEqual({
      applied: [
        'zones added: hasOwnProperty',
        'zones removed: floor-a',
        'devices added: toString',
        'devices removed: constructor',
        'devices changed: s-1',
      ],
      needsRestart: [],
      removed: { devices: ['constructor'], zones: ['floor-a'] },
    });
    const applied = appliedConfig(running, next);
    expect(applied.zones).toEqual(next.zones);
    expect(configHash(applied)).not.toBe(configHash(running));
  });

  it('takes on a floor plan drawn, changed or removed', () => {
    const drawn = config({
      zones: [{ id: 'floor-a', type: 'call_floor' }],
      layout: { width: 20, height: 10, zones: { 'floor-a': { rect: [0, 0, 20, 10] } } },
    });
    const plain = config({ zones: [{ id: 'floor-a', type: 'call_floor' }] });
    expect(configChanges(plain, drawn)).toMatchObject({
      applied: [expect.stringMatching(/^layout: unset → /)],
      needsRestart: [],
    });
    expect(appliedConfig(plain, drawn).layout).toEqual(drawn.layout);
    expect(configChanges(drawn, plain).applied).toEqual([expect.stringMatching(/^layout: .* → unset$/)]);
    expect(appliedConfig(drawn, plain).layout).toBeUndefined();
  });

  it('leaves what needs a restart as it was, naming it without its secrets', () => {
    const next = config({
      ...{ zones: running.zones, devices: running.devices },
      site: { name: 'Harbour' },
      storage: { influx_url: 'http://floorwatch:hunter2@127.0.0.1:8086/floorwatch' },
      rules: { escalate_after: '30m', max_behind: '5s' },
      limits: { api_requests_per_minute: 60, max_queued_messages: 500 },
      notify: { webhooks: [{ url: 'https://hooks.example.com/x?token=hunter2', secret: 'hunter2-hunter2-hunter2' }] },
    });
    const changes = configChanges(running, next);
    expect(changes.applied).toEqual([
      'limits.max_queued_messages: 1000 → 500',
      'rules.escalate_after: "15m" → "30m"',
      'rules.max_behind: "500ms" → "5s"',
      'notify.webhooks: [] → [{"url":"…","secret":"…"}]',
    ]);
    expect(changes.needsRestart).toEqual([
      'site.name: "floorwatch" → "Harbour"',
      'storage.influx_url: unset → "…"',
      'limits.api_requests_per_minute: 1200 → 60',
    ]);
    const applied = appliedConfig(running, next);
    expect(applied.storage).toEqual(running.storage);
    expect(applied.site.name).toBe(running.site.name);
    expect(applied.limits).toEqual({ ...next.limits, api_requests_per_minute: 1200 });
    expect(applied.rules.max_behind).toBe('5s');
    expect(applied.notify).toEqual(next.notify);
    expect(JSON.stringify(changes)).not.toContain('hunter2');
  });

  it('finds nothing in the same configuration written in another order', () => {
    const same = config({
      devices: [...running.devices].map((d) => Object.fromEntries(Object.entries(d).reverse())),
      zones: running.zones,
    });
    expect(configChanges(running, same)).toEqual({
      applied: [],
      needsRestart: [],
      removed: { devices: [], zones: [] },
    });
  });
});
