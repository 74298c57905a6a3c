// A test CA made with openssl, as the README tells a site to: a server certificate for
// 127.0.0.1, a device certificate signed by it, and one signed by a stranger CA.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A CA, a server certificate for 127.0.0.1, and certificates signed by it (or by a stranger) for devices. */
export async function makeTestCa(dir: string): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  /** A self-signed CA: `name`.key and `name`.crt. */
  const ca = (name: string, cn: string) =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
    );
  /** A key and a certificate for `cn` signed by the CA `by`. */
  const sign = async (name: string, cn: string, by: string, ext?: string) => {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    await openssl(
      'x509',
      ...['-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial'],
      ...['-days', '2', '-out', `${name}.crt`, ...(ext ? ['-extfile', ext] : [])],
    );
  };
  await ca('ca', 'floorwatch test CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await sign('server', '127.0.0.1', 'ca', 'server.ext');
  await sign('t-9', 't-9', 'ca');
  await ca('rogue-ca', 'stranger CA');
  await sign('rogue', 't-9', 'rogue-ca');
}
