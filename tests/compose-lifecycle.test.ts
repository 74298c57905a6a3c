// The hub's parts taking a reloaded configuration on: every part readies it before any applies it,
// one that cannot ready it changes nothing anywhere, and one that fails while applying does not
// keep the others from theirs. Stopping: a part that does not stop within the limit does not keep
// the others from stopping.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { configChanges } from '../hub/config/changes.ts';
import { loadConfig } from '../hub/config/config.ts';
import { Lifecycle } from '../hub/compose/lifecycle.ts';
import type { Timers } from '../hub/notify/outbox.ts';
import { capturedLog, tempDir, testEnv } from './support/hub.ts';

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

/** Timers run by hand: `fire()` runs whatever is due, as if the limit had passed. */
function handTimers(): Timers & { fire(): void; pending(): number } {
  const due = new Map<number, () => void>();
  let next = 0;
  return {
    setTimeout: (fn) => {
      due.set(++next, fn);
      return next;
    },
    clearTimeout: (handle) => due.delete(handle as number),
    fire: () => {
      const fns = [...due.values()];
      due.clear();
      for (const fn of fns) fn();
    },
    pending: () => due.size,
  };
}

describe('Lifecycle.stop', () => {
  it('goes on without a part that has not stopped within the limit, says so, and logs when it does stop', async () => {
    const captured = capturedLog();
    const timers = handTimers();
    const lifecycle = new Lifecycle(captured.log, { stopLimitMs: 5000, timers });
    const stopped: string[] = [];
    let finishBridge: () => void = () => undefined;
    lifecycle.add({ name: 'journal', stop: () => void stopped.push('journal') });
    lifecycle.add({
      name: 'bridge to site-broker',
      // A downstream that never answers.
      stop: () => new Promise<void>((resolve) => (finishBridge = resolve)),
    });
    lifecycle.add({ name: 'api', stop: async () => void stopped.push('api') });

    const stopping = lifecycle.stop();
    // The api stopped; the bridge is waited for, with the limit running.
    await new Promise(setImmediate);
    expect(stopped).toEqual(['api']);
    expect(timers.pending()).toBe(1);
    timers.fire();
    await stopping;
    expect(stopped).toEqual(['api', 'journal']);
    expect(captured.lines).toContain(
      'bridge to site-broker had not stopped after 5 s; the hub stops the rest without waiting for it',
    );
    finishBridge();
    await new Promise(setImmediate);
    expect(captured.lines).toContain('bridge to site-broker stopped, late');
  });

  it('clears the limit of a part that stops in time, and logs one that fails to stop', async () => {
    const captured = capturedLog();
    const timers = handTimers();
    const lifecycle = new Lifecycle(captured.log, { stopLimitMs: 5000, timers });
    lifecycle.add({ name: 'store', stop: async () => undefined });
    lifecycle.add({
      name: 'alerting',
      stop: () => {
        throw new Error('database or disk is full');
      },
    });
    await lifecycle.stop();
    expect(timers.pending()).toBe(0);
    expect(captured.lines).toEqual(['could not stop alerting cleanly: database or disk is full']);
  });
});
