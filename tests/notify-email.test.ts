// Email receivers against a real mail server (aiosmtpd) that demands STARTTLS and a login: a
// routed critical alert arrives as one message, plain text and HTML, with what was reported by the
// device escaped; a recipient the server refuses for good is set aside after a few attempts,
// and the other receivers' mail still goes out; a login the server refuses keeps the notices; a
// message refused for one recipient of several is delivered to the rest and the refusal recorded.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLog, eventually, startTestHub, tempDir, type TestHub } from './support/hub.ts';
import { headsetHeartbeat } from './support/mqtt.ts';
import { startSmtp, type SmtpHandle } from './support/smtp.ts';
import { makeTestCa } from './support/tls.ts';

/** A mail server demanding STARTTLS (with a certificate of a test CA) and the login floorwatch / mail-password. */
async function mailServer(refuse: string[]): Promise<{ smtp: SmtpHandle; certs: string }> {
  const certs = tempDir('floorwatch-ca-');
  await makeTestCa(certs);
  const smtp = await startSmtp({
    cert: join(certs, 'server.crt'),
    key: join(certs, 'server.key'),
    user: 'floorwatch',
    password: 'mail-password',
    refuse,
  });
  return { smtp, certs };
}

describe('email receivers', () => {
  let smtp: SmtpHandle;
  let hub: TestHub;
  let certs: string;
  const captured = capturedLog('warn');

  beforeAll(async () => {
    ({ smtp, certs } = await mailServer(['nobody@example.com']));
    const email = (to: string, password = 'mail-password') => ({
      to: [to],
      from: 'floorwatch@example.com',
      smtp: `smtp://floorwatch:${password}@127.0.0.1:${smtp.port}`,
      require_tls: true,
      ca: join(certs, 'ca.crt'),
    });
    hub = await startTestHub({
      log: captured.log,
      config: {
        site: { name: 'Harbour <Call> Centre', timezone: 'Europe/London' },
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 'hs-a1', kind: 'headset', zone: 'floor-a' }],
        notify: {
          retry_first: '100ms',
          retry_max: '200ms',
          group_wait: '0s',
          receivers: [
            { name: 'facilities', email: email('facilities@example.com') },
            { name: 'nobody', email: email('nobody@example.com') },
            { name: 'mistyped', email: email('facilities@example.com', 'wrong-password') },
          ],
          routes: [
            { match: { severity: 'critical' }, receiver: 'nobody', continue: true },
            { match: { severity: 'critical' }, receiver: 'mistyped', continue: true },
            { match: { severity: 'critical' }, receiver: 'facilities' },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await hub.dispose();
    await smtp.dispose();
  });

  it('sends a routed alert over STARTTLS with a login, as text and HTML; a refused recipient is set aside', async () => {
    await headsetHeartbeat(hub.mqttUrl, 'hs-a1', 'fault');
    const [mail] = await eventually(
      async () => {
        const all = await smtp.messages();
        return all.length > 0 && all;
      },
      { what: 'the alert email' },
    );
    expect(mail!.subject).toBe(
      'Harbour <Call> Centre: [CRITICAL] Firing: headset hs-a1 in floor-a: headset fault: call drop-outs',
    );
    expect(mail!.from?.text).toBe('floorwatch@example.com');
    expect((Array.isArray(mail!.to) ? mail!.to[0] : mail!.to)?.text).toBe('facilities@example.com');
    expect(mail!.text).toContain('FIRING [critical] headset hs-a1 in floor-a: headset fault: call drop-outs');
    expect(mail!.text).toContain('zone floor-a');
    expect(mail!.text).toContain('code dropout');
    expect(mail!.headers.get('x-floorwatch-delivery')).toMatch(/^\d+$/);
    const html = String(mail!.html);
    expect(html).toContain('Harbour &lt;Call&gt; Centre');
    expect(html).not.toContain('<Call>');

    const rejections = await eventually(
      async () => {
        const { rejections: list } = await hub.json<{ rejections: Array<{ target?: string; detail?: string }> }>(
          '/api/v1/rejections?stage=notify',
        );
        return list.length > 0 && list;
      },
      { what: 'the refused recipient set aside' },
    );
    expect(JSON.stringify(rejections)).toContain('receiver nobody');
    expect(JSON.stringify(rejections)).toMatch(/550/);
    expect(await smtp.messages()).toHaveLength(1);
    // A login the server refuses is the setup, not the message: kept and retried, never set aside.
    expect(JSON.stringify(rejections)).not.toContain('receiver mistyped');
    expect(captured.lines.some((l) => /cannot deliver alert notifications to receiver mistyped .*535/.test(l))).toBe(
      true,
    );
  });
});

describe('an email receiver with one address the mail server refuses among several', () => {
  let smtp: SmtpHandle;
  let hub: TestHub;
  let certs: string;
  const captured = capturedLog('warn');

  beforeAll(async () => {
    ({ smtp, certs } = await mailServer(['constructor@example.com']));
    hub = await startTestHub({
      log: captured.log,
      config: {
        zones: [{ id: 'floor-a', type: 'call_floor' }],
        devices: [{ id: 'hs-a1', kind: 'headset', zone: 'floor-a' }],
        notify: {
          group_wait: '0s',
          receivers: [
            {
              name: 'team',
              email: {
                to: ['facilities@example.com', 'constructor@example.com'],
                from: 'floorwatch@example.com',
                smtp: `smtp://floorwatch:mail-password@127.0.0.1:${smtp.port}`,
                require_tls: true,
                ca: join(certs, 'ca.crt'),
              },
            },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await hub.dispose();
    await smtp.dispose();
  });

  it('delivers to the others once, and records and logs the refused address', async () => {
    await headsetHeartbeat(hub.mqttUrl, 'hs-a1', 'fault');
    const rejections = await eventually(
      async () => {
        const { rejections: list } = await hub.json<{ rejections: Array<{ detail?: string }> }>(
          '/api/v1/rejections?stage=notify',
        );
        return list.length > 0 && list;
      },
      { what: 'the partial refusal recorded' },
    );
    expect(rejections).toHaveLength(1);
    expect(rejections[0]?.detail).toMatch(
      /^receiver team: the mail server refused constructor@example\.com \(.*550.*\)/,
    );
    const mails = await smtp.messages();
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toContain('headset fault');
    expect(captured.lines.some((l) => l.includes('refused constructor@example.com'))).toBe(true);
  });
});
