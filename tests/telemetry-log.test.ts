// The log as a person reads it: a value from outside (a unit, a topic, a client id) cannot forge a
// line or hide text, and the once-a-minute notices hold small keys and write short lines however
// long what a client sent.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLog, oneLine } from '../hub/telemetry/log.ts';
import { NoticeLog } from '../hub/telemetry/notices.ts';

function collected(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('the text log', () => {
  it('writes a message with a line break, a control character or a direction override as one line, escaped', () => {
    const out = collected();
    const log = createLog({ level: 'info', format: 'text', site: 'Harbour', destination: out.stream });
    log.warn('refused input from t-17: unit "Cel\n12:00:00 ERROR: forged" \u001b[31m and \u202eevil');
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\] WARN: refused input from t-17: unit "Cel\\n12:00:00 ERROR: forged" \\u001b\[31m and \\u202eevil$/,
    );
  });

  it('escapes every character the domain takes as hidden, a Hangul filler and a zero-width space among them', () => {
    const out = collected();
    const log = createLog({ level: 'info', format: 'text', site: 'Harbour', destination: out.stream });
    log.warn('refused input from t\u3164-17\u200b');
    expect(out.text()).toContain('refused input from t\\u3164-17\\u200b');
  });

  it('writes the fields of a line the same way', () => {
    const out = collected();
    const log = createLog({ level: 'info', format: 'text', site: 'Harbour', destination: out.stream });
    log.warn(
      { topic: 'floorwatch/devices/a\u202eb\nc/telemetry', detail: { unit: 'Cel\u2028forged\u0085' } },
      'refused input',
    );
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"topic":"floorwatch/devices/a\\u202eb\\nc/telemetry"');
    expect(lines[0]).toContain('"unit":"Cel\\u2028forged\\u0085"');
    expect(lines[0]).not.toMatch(/[\u202e\u2028\u0085]/);
  });

  it('writes the fields a child log carries on each of its lines the same way', () => {
    const out = collected();
    const log = createLog({ level: 'info', format: 'text', site: 'Harbour', destination: out.stream });
    log
      .child({ bridge: 'site\n12:00:00 ERROR: forged', link: { to: 'a\u202eb' } })
      .child({ hop: 'c\u2029d' })
      .warn('could not connect');
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"bridge":"site\\n12:00:00 ERROR: forged"');
    expect(lines[0]).toContain('"to":"a\\u202eb"');
    expect(lines[0]).toContain('"hop":"c\\u2029d"');
    expect(lines[0]).not.toMatch(/[\u202e\u2029]/);
  });

  it('still writes an error with its message and where it came from', () => {
    const out = collected();
    const log = createLog({ level: 'info', format: 'text', site: 'Harbour', destination: out.stream });
    log.error({ err: Object.assign(new Error('the ledger is locked'), { code: 'SQLITE_BUSY' }) }, 'could not save');
    log.error(new Error('a bare error'));
    log.info({ at: new Date(0) }, 'a date');
    const text = out.text();
    expect(text).toContain('the ledger is locked');
    expect(text).toContain('SQLITE_BUSY');
    expect(text).toMatch(/at .*telemetry-log\.test\.ts/);
    expect(text).toContain('a bare error');
    expect(text).toContain('"at":"1970-01-01T00:00:00.000Z"');
  });

  it('escapes every format character, the Arabic letter mark and zero-width ones among them', () => {
    expect(oneLine('a\u061cb\u200bc\ufeffd')).toBe('a\\u061cb\\u200bc\\ufeffd');
  });

  it('leaves what a person writes in any language as it is', () => {
    expect(oneLine('Büro Zürich – 東京 – غرفة الخوادم – 🔥')).toBe('Büro Zürich – 東京 – غرفة الخوادم – 🔥');
  });
});

describe('NoticeLog', () => {
  it('keys and writes what a client sent cut short: a 64 KiB client id is one short key and one short line', () => {
    const out = collected();
    const notices = new NoticeLog(pino(out.stream), () => 0);
    const id = 'x'.repeat(64 * 1024);
    notices.once(`refused:${id}`, `client ${id} refused`);
    notices.once(`refused:${id}y`, `client ${id}y refused`);
    const lines = out.text().trimEnd().split('\n');
    // The second key is the first cut short: within the minute, not written.
    expect(lines).toHaveLength(1);
    const { msg } = JSON.parse(lines[0]!) as { msg: string };
    expect(msg).toHaveLength(2001);
    expect(msg.endsWith('x…')).toBe(true);
  });
});
