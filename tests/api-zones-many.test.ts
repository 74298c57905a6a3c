// A floor of many zones: the zones answer asks the store for a few figures at a time, so a site
// with a dozen zones is not refused "busy" by the store's own bound on waiting reads, and screens
// asking at the same moment share one answer and one set of reads; a failed read ends the asking.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryApi } from './support/api.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { StoreUnavailable } from '../hub/store/store.ts';

const ZONES = Array.from({ length: 12 }, (_, i) => ({ id: `floor-${i + 1}`, type: 'call_floor' }));

describe('the zones of a floor with twelve of them', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ config: { zones: ZONES } });
  });
  afterAll(() => hub?.dispose());

  it('answers every zone, also when two floor pages ask at once', async () => {
    const answers = await Promise.all([hub.api('/api/v1/zones'), hub.api('/api/v1/zones')]);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as { zones: Array<{ zone: string }> };
      expect(body.zones.map((z) => z.zone)).toEqual(ZONES.map((z) => z.id));
    }
  });
});

describe('the zones asked for by ten screens at once', () => {
  it('are worked out once, with the reads of one answer', async () => {
    const api = await memoryApi({ config: { zones: ZONES } });
    try {
      let reads = 0;
      const query = api.store.query.bind(api.store);
      api.store.query = (q) => {
        reads += 1;
        return query(q);
      };
      const ask = () => api.app.inject({ method: 'GET', url: '/api/v1/zones' });
      const alone = await ask();
      const once = reads;
      expect(once).toBeGreaterThan(0);
      const together = await Promise.all(Array.from({ length: 10 }, ask));
      expect(reads).toBe(2 * once);
      for (const answer of together) expect(answer.json()).toEqual(alone.json());
    } finally {
      await api.close();
    }
  });
});

describe('the zones when the store fails', () => {
  it('stops asking it at the first failed read', async () => {
    const api = await memoryApi({ config: { zones: ZONES } });
    try {
      let reads = 0;
      api.store.query = () => {
        reads += 1;
        return Promise.reject(new StoreUnavailable('the store is stopped'));
      };
      const answer = await api.app.inject({ method: 'GET', url: '/api/v1/zones' });
      expect(answer.statusCode).toBeGreaterThanOrEqual(500);
      // Only the reads already under way when the first failed.
      expect(reads).toBeLessThanOrEqual(4);
    } finally {
      await api.close();
    }
  });
});
