// A real SMTP server for tests: tests/support/smtp-server.py on aiosmtpd, on a free 127.0.0.1
// port, STARTTLS and a login required, each message kept and read back parsed (mailparser).
//   const smtp = await startSmtp({ cert, key, user, password });  await smtp.messages();  await smtp.dispose();
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { freePort } from './influxd.ts';
import { tempDir } from './hub.ts';

export interface SmtpHandle {
  port: number;
  /** Every message received so far, oldest first. */
  messages(): Promise<ParsedMail[]>;
  dispose(): Promise<void>;
}

export async function startSmtp(options: {
  cert: string;
  key: string;
  user: string;
  password: string;
  /** Recipients answered with 550. */
  refuse?: string[];
}): Promise<SmtpHandle> {
  const dir = tempDir('floorwatch-smtp-');
  // Made by the server, with the subfolders a Maildir has.
  const maildir = join(dir, 'mail');
  const port = await freePort();
  const child = spawn(
    '/usr/bin/python3',
    [
      join(import.meta.dirname, 'smtp-server.py'),
      ...['--port', String(port), '--maildir', maildir, '--cert', options.cert, '--key', options.key],
      ...['--user', options.user, '--password', options.password],
      ...(options.refuse ?? []).flatMap((r) => ['--refuse', r]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let errors = '';
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the SMTP server exited with ${code}: ${errors}`)));
  });
  return {
    port,
    async messages() {
      // Maildir names start with the time of arrival: in name order, oldest first.
      if (!existsSync(join(maildir, 'new'))) return [];
      const files = readdirSync(join(maildir, 'new'))
        .sort()
        .map((f) => join(maildir, 'new', f));
      return Promise.all(files.map((f) => simpleParser(readFileSync(f))));
    },
    async dispose() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
