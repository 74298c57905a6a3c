// The audit log read newest first, from the end of the file backwards: lines across the chunks it
// reads, torn and overlong lines passed over, and a log larger than any one string may be.
import { appendFileSync, rmSync, truncateSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../hub/security/audit.ts';
import { tempDir } from './support/hub.ts';

describe('the audit log', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('lists every entry newest first, whatever the chunk a line falls across, and by action', async () => {
    dir = tempDir();
    let at = 0;
    const log = new AuditLog(dir, () => at++);
    for (let i = 0; i < 3000; i++)
      log.record(`op-${i}`, i % 3 === 0 ? 'silence.create' : 'alert.ack', { comment: 'x'.repeat(i % 997) });
    const all = await log.list({ limit: 10_000 });
    expect(all.map((e) => e.at)).toEqual(Array.from({ length: 3000 }, (_, i) => 2999 - i));
    expect(all[0]).toEqual({
      at: 2999,
      who: 'op-2999',
      action: 'alert.ack',
      details: { comment: 'x'.repeat(2999 % 997) },
    });
    const silences = await log.list({ limit: 3, action: 'silence.create' });
    expect(silences.map((e) => e.who)).toEqual(['op-2997', 'op-2994', 'op-2991']);
  });

  it('passes over a torn line and one longer than any entry, and reads the rest', async () => {
    dir = tempDir();
    const log = new AuditLog(dir, () => 1);
    log.record('first', 'token.create');
    appendFileSync(log.path, '{"at":2,"who":"torn"');
    appendFileSync(log.path, `\n${'y'.repeat(3 * 1024 * 1024)}\n`);
    log.record('last', 'token.revoke');
    expect((await log.list({ limit: 10 })).map((e) => e.who)).toEqual(['last', 'first']);
  });

  /** A log of one device.add by "oldest", `mib` of hole the file system holds, then an alert.ack by each of `newest`. */
  const largeLog = (mib: number, newest: string[]) => {
    dir = tempDir();
    const log = new AuditLog(dir, () => 7);
    log.record('oldest', 'device.add');
    truncateSync(log.path, mib * 1024 * 1024);
    appendFileSync(log.path, '\n');
    for (const who of newest) log.record(who, 'alert.ack');
    return log;
  };

  it('reads the newest entries of a log larger than any one string may be', async () => {
    // 600 MiB: a string holds at most about 512 MiB.
    const log = largeLog(600, ['a', 'b', 'c']);
    expect((await log.list({ limit: 3 })).map((e) => e.who)).toEqual(['c', 'b', 'a']);
  });

  it('passes over lines of another shape, which the API could not answer with', async () => {
    dir = tempDir();
    const log = new AuditLog(dir, () => 1);
    log.record('first', 'alert.ack');
    for (const line of [
      'null',
      '[]',
      '{"at":"x","who":"w","action":"alert.ack","details":{}}',
      '{"at":2,"who":"w","action":"alert.ack","details":[]}',
    ])
      appendFileSync(log.path, `${line}\n`);
    log.record('last', 'alert.ack', JSON.parse('{"constructor":"x","__proto__":"y"}') as Record<string, unknown>);
    expect((await log.list({ limit: 10 })).map((e) => e.who)).toEqual(['last', 'first']);
    const [last] = await log.list({ limit: 1, action: 'alert.ack' });
    expect(Object.keys(last!.details)).toEqual(['constructor', '__proto__']);
  });

  it('looks for an action no entry has to the start of a large log without holding the hub', async () => {
    const log = largeLog(64, ['newest']);
    // Turns of the event loop while it reads: none, were it read in one go.
    let turns = 0;
    let reading = true;
    const turn = () => {
      turns++;
      if (reading) setImmediate(turn);
    };
    setImmediate(turn);
    const found = await log.list({ limit: 10, action: 'token.revoke' });
    reading = false;
    expect(found).toEqual([]);
    expect(turns).toBeGreaterThan(100);
    expect((await log.list({ limit: 10, action: 'device.add' })).map((e) => e.who)).toEqual(['oldest']);
  });
});
