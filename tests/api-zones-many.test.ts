// A floor of many zones: the zones answer asks the store for a few figures at a time, so a site
// with a dozen zones is not refused "busy" by the store's own bound on waiting reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';

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
