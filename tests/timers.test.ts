// The hub's timers on the real clock: a wait longer than a Node timer holds (about 24.8 days; a
// notification group's wait, a retry) must not end at once, or a caller that waits again spins.
import { describe, expect, it } from 'vitest';
import { backgroundTimers, systemTimers } from '../hub/domain/timers.ts';

const DAY = 86_400_000;

describe('timers', () => {
  it('do not end a wait of 25 days or more at once', async () => {
    const fired: string[] = [];
    const handles = [
      systemTimers.setTimeout(() => fired.push('system'), 25 * DAY),
      backgroundTimers.setTimeout(() => fired.push('background'), 400 * DAY),
    ];
    // A timer Node cannot hold fires after 1 ms: several turns of the clock are enough to see it.
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    expect(fired).toEqual([]);
    systemTimers.clearTimeout(handles[0]);
    backgroundTimers.clearTimeout(handles[1]);
  });
});
