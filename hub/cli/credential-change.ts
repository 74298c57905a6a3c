// What the commands that change passwords and tokens share: the site's configuration, its audit
// log and who is at the keyboard, and a refused change reported as one line with exit code 1.
import { userInfo } from 'node:os';
import { loadConfig, type Config } from '../config/config.ts';
import { AuditLog } from '../security/audit.ts';
import { CredentialError } from '../security/credentials.ts';

export interface CredentialChange {
  config: Config;
  audit: AuditLog;
  /** The operator, as the audit log names them. */
  who: string;
}

export async function changeCredentials(
  command: string,
  change: (site: CredentialChange) => Promise<number> | number,
): Promise<number> {
  const config = loadConfig();
  try {
    return await change({ config, audit: new AuditLog(config.data_dir), who: `cli:${userInfo().username}` });
  } catch (err) {
    if (!(err instanceof CredentialError)) throw err;
    process.stderr.write(`floorwatch ${command}: ${err.message}\n`);
    return 1;
  }
}

/** A moment to the minute, as the lists show it. */
export const date = (ms: number | undefined) =>
  ms === undefined ? '' : new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
