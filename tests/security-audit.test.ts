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

  it('lists every entry newest first, whatever the chunk a line falls across, and by action', () => {
    dir = tempDir();
    let at = 0;
    const log = new AuditLog(dir, () => at++);
    for (let i = 0; i < 3000; i++)
      log.record(`op-${i}`, i % 3 === 0 ? 'silence.create' : 'alert.ack', { comment: 'x'.repeat(i % 997) });
    const all = log.list({ limit: 10_000 });
    expect(all.map((e) => e.at)).toEqual(Array.from({ length: 3000 }, (_, i) => 2999 - i));
    expect(all[0]).toEqual({
      at: 2999,
      who: 'op-2999',
      action: 'alert.ack',
      details: { comment: 'x'.repeat(2999 % 997) },
    });
    const silences = log.list({ limit: 3, action: 'silence.create' });
    expect(silences.map((e) => e.who)).toEqual(['op-2997', 'op-2994', 'op-2991']);
  });

  it('passes over a torn line and one longer than any entry, and reads the rest', () => {
    dir = tempDir();
    const log = new AuditLog(dir, () => 1);
    log.record('first', 'token.create');
    appendFileSync(log.path, '{"at":2,"who":"torn"');
    appendFileSync(log.path, `\n${'y'.repeat(3 * 1024 * 1024)}\n`);
    log.record('last', 'token.revoke');
    expect(log.list({ limit: 10 }).map((e) => e.who)).toEqual(['last', 'first']);
  });

  it('reads the newest entries of a log larger than any one string may be', () => {
    dir = tempDir();
    const log = new AuditLog(dir, () => 7);
    // 600 MiB the file system holds as a hole: a string holds at most about 512 MiB.
    log.record('oldest', 'device.add');
    truncateSync(log.path, 600 * 1024 * 1024);
    appendFileSync(log.path, '\n');
    for (const who of ['a', 'b', 'c']) log.record(who, 'alert.ack');
    expect(log.list({ limit: 3 }).map((e) => e.who)).toEqual(['c', 'b', 'a']);
  });
});
