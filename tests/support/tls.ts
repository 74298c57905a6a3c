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
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=floorwatch test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const sign = async (name: string, cn: string, ca: string, ext?: string) => {
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
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      ...(ext ? ['-extfile', ext] : []),
    );
  };
  await sign('server', '127.0.0.1', 'ca', 'server.ext');
  await sign('t-9', 't-9', 'ca');
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=stranger CA',
    '-keyout',
    'rogue-ca.key',
    '-out',
    'rogue-ca.crt',
  );
  await sign('rogue', 't-9', 'rogue-ca');
}
