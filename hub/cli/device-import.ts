// `floorwatch devices import devices.csv`: every row checked first (a bad one refuses the whole
// file, nothing changed), then the configuration file rewritten with the devices declared — and
// checked as the hub checks it before it replaces the old — then a password for each device that
// has none, printed once.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { loadConfig, type Config } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import type { AuditLog } from '../security/audit.ts';
import { CredentialError, type DeviceCredentials } from '../security/credentials.ts';
import { declareRows, deviceRows } from './device-list.ts';
import { counted } from '../domain/counted.ts';

/** New passwords from which the import tells its progress. */
const PROGRESS_FROM = 10;

export interface ImportSite {
  config: Config;
  credentials: DeviceCredentials;
  audit: AuditLog;
  who: string;
  now: number;
}

export async function importDevices(
  csvPath: string,
  { config, credentials, audit, who, now }: ImportSite,
  printSecret: (id: string, secret: string) => void,
): Promise<number> {
  const configPath = process.env.FLOORWATCH_CONFIG;
  if (configPath === undefined)
    throw new CredentialError(
      'FLOORWATCH_CONFIG names no configuration file: the devices are declared there. Set it to your floorwatch.yaml; nothing was changed',
    );
  let csv: string;
  try {
    csv = readFileSync(csvPath, 'utf8');
  } catch (err) {
    throw new CredentialError(`${csvPath} cannot be read (${(err as Error).message}); nothing was changed`);
  }
  const { rows, problems } = deviceRows(
    csv,
    config.zones.map((z) => z.id),
  );
  if (problems.length > 0) {
    process.stderr.write(
      `${csvPath} has ${problems.length} problem(s); nothing was changed:\n${problems.map((p) => `  ${p}\n`).join('')}`,
    );
    return 1;
  }
  const { text, added, changed } = declareRows(readFileSync(configPath, 'utf8'), rows);
  if (added + changed > 0) {
    // The new file is checked as the hub would check it before it takes the old one's place.
    const next = `${configPath}.import.tmp`;
    writeFileSync(next, text);
    try {
      loadConfig({ env: { ...process.env, FLOORWATCH_CONFIG: next } });
    } catch (err) {
      rmSync(next, { force: true });
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(
        `${configPath} would not start the hub with these devices; nothing was changed:\n${err.problems.map((p) => `  - ${p}\n`).join('')}`,
      );
      return 1;
    }
    renameSync(next, configPath);
  }
  const fresh = rows
    .filter((row) => !credentials.has(row.id))
    .map((row) => ({ id: row.id, ...(row.zone !== undefined && { zone: row.zone }) }));
  // A password is a fraction of a second of scrypt: a floor of thousands takes minutes, told in tenths.
  const tenth = Math.ceil(fresh.length / 10);
  const secrets = await credentials.addAll(fresh, now, (done, total) => {
    if (total >= PROGRESS_FROM && (done % tenth === 0 || done === total))
      process.stderr.write(`new passwords: ${done} of ${total} (${Math.floor((100 * done) / total)} %)\n`);
  });
  for (const [id, secret] of secrets) printSecret(id, secret);
  const created = [...secrets.keys()];
  audit.record(who, 'device.import', { file: csvPath, devices: rows.length, added, changed, passwords: created });
  process.stdout.write(
    added + changed + created.length === 0
      ? `nothing changed: ${counted(rows.length, 'device')} in ${csvPath}, each declared as the file says and with a password\n`
      : `${counted(rows.length, 'device')} in ${csvPath}: ${added} declared, ${changed} changed in ${configPath}; ${created.length} new passwords (shown once above). Reload the hub to take them on: kill -HUP <pid>, or POST /api/v1/config/reload\n`,
  );
  // A revoked password was taken away on purpose: an import does not give it back, and says so.
  const revoked = rows.filter((row) => credentials.isRevoked(row.id)).map((row) => row.id);
  if (revoked.length > 0)
    process.stdout.write(
      `${revoked.length} of them revoked, and left so: ${revoked.slice(0, 5).join(', ')}${revoked.length > 5 ? ', …' : ''} ("devices rotate <device-id>" gives one a new password)\n`,
    );
  return 0;
}
