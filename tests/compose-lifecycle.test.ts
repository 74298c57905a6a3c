// The hub's parts taking a reloaded configuration on: every part readies it before any applies it,
// one that cannot ready it changes nothing anywhere, and one that fails while applying does not
// keep the others from theirs. And stopping: one part that fails or hangs does not keep the others
// (the journal last) from stopping.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { configChanges } from '../hub/config/changes.ts';
import { loadConfig } from '../hub/config/config.ts';
import { Lifecycle } from '../hub/compose/lifecycle.ts';
import { tempDir, testEnv } from './support/hub.ts';

const config = loadConfig({ env: testEnv(tempDir(), {}) });
const changes = configChanges(config, config);

describe('Lifecycle.reconfigure', () => {
  it('applies nothing when a part cannot ready the configuration', () => {
    const lifecycle = new Lifecycle(pino({ level: 'silent' }));
    const applied: string[] = [];
    lifecycle.add({ name: 'first', reconfigure: () => () => applied.push('first') });
    lifecycle.add({
      name: 'second',
      reconfigure: () => {
        throw new Error('the rule book cannot be made');
      },
    });
    expect(() => lifecycle.reconfigure(config, changes)).toThrow('the rule book cannot be made');
    expect(applied).toEqual([]);
  });

  it('applies the rest when a part fails while applying, and names it', () => {
    const lifecycle = new Lifecycle(pino({ level: 'silent' }));
    const applied: string[] = [];
    lifecycle.add({ name: 'intake', reconfigure: () => () => applied.push('intake') });
    lifecycle.add({
      name: 'alerting',
      reconfigure: () => () => {
        throw new Error('database or disk is full');
      },
    });
    lifecycle.add({ name: 'discovery', reconfigure: () => () => applied.push('discovery') });
    expect(lifecycle.reconfigure(config, changes)).toEqual([
      'alerting could not take the new configuration on: database or disk is full',
    ]);
    expect(applied).toEqual(['intake', 'discovery']);
  });
});

describe('Lifecycle.stop', () => {
  it('stops the rest when a part fails or never stops, and says which', async () => {
    const lines: Array<{ msg: string; part?: string }> = [];
    const log = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
    );
    const lifecycle = new Lifecycle(log, 20);
    const stopped: string[] = [];
    lifecycle.add({ name: 'journal', stop: async () => void stopped.push('journal') });
    // A webhook that never answers, say.
    lifecycle.add({ name: 'notifier', stop: () => new Promise<void>(() => {}) });
    lifecycle.add({
      name: 'api',
      stop: () => {
        throw new Error('server is not running');
      },
    });
    lifecycle.add({ name: 'feed', stop: () => void stopped.push('feed') });
    await lifecycle.stop();
    expect(stopped).toEqual(['feed', 'journal']);
    expect(lines.map((l) => [l.part, l.msg])).toEqual([
      ['api', 'could not stop api cleanly: server is not running'],
      ['notifier', 'notifier did not stop within 0.02 s; stopping the rest without waiting for it'],
    ]);
  });
});
