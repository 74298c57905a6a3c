// HTTP submissions of readings waiting for the journal are bounded, as the broker's reads are: past
// the bound one is answered 503 at once, and those waiting are taken once the journal writes.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_WAITING_SUBMISSIONS } from '../hub/api/readings.ts';
import { memoryApi, type MemoryApi } from './support/api.ts';
import { T0 } from './rules-fixtures.ts';

describe('readings submitted over HTTP', () => {
  let api: MemoryApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it(`hold at most ${MAX_WAITING_SUBMISSIONS} waiting for a slow journal; one more is answered 503 at once`, async () => {
    let write!: () => void;
    api = await memoryApi({ journalWrites: new Promise<void>((resolve) => (write = resolve)) });
    const submitter = api;
    const answers = Array.from({ length: MAX_WAITING_SUBMISSIONS + 1 }, (_, i) =>
      submitter.send([{ bn: `h-${i}/`, n: 'temperature', u: 'Cel', v: 21, t: T0 / 1000 }]),
    );
    const refused = await Promise.race(answers);
    expect(refused.status).toBe(503);
    expect((refused.body as { message: string }).message).toContain('submissions already wait for the journal');
    write();
    const statuses = (await Promise.all(answers)).map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(MAX_WAITING_SUBMISSIONS);
  });
});
