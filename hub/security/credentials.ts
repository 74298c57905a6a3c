// Device credentials: username = device id, password = a secret the hub generated and printed
// once. Only the scrypt hash is kept, in {data_dir}/security/devices.json.
import { join } from 'node:path';
import { idProblem } from '../domain/reading.ts';
import { RecordFile } from './record-file.ts';
import { hashPassword, newSecret } from './secrets.ts';

interface StoredDevice {
  hash: string;
  zone?: string;
  createdAt: number;
  rotatedAt?: number;
  revokedAt?: number;
}

export interface DeviceCredentialInfo {
  id: string;
  zone?: string;
  createdAt: number;
  rotatedAt?: number;
  revokedAt?: number;
}

export class CredentialError extends Error {
  override name = 'CredentialError';
}

/** Passwords hashed at once: libuv's thread pool holds 4 by default, and scrypt runs there. */
const HASHES_AT_ONCE = 4;

export class DeviceCredentials {
  private readonly file: RecordFile<StoredDevice>;

  constructor(dataDir: string) {
    this.file = new RecordFile(join(dataDir, 'security', 'devices.json'));
  }

  get path(): string {
    return this.file.path;
  }

  /** True once any device has a live credential: from then on anonymous clients are refused. */
  any(): boolean {
    for (const d of this.file.all().values()) if (d.revokedAt === undefined) return true;
    return false;
  }

  /** Whether the device has a password on record, live or revoked: then only the device itself speaks for it. */
  has(id: string): boolean {
    return this.file.get(id) !== undefined;
  }

  isRevoked(id: string): boolean {
    return this.file.get(id)?.revokedAt !== undefined;
  }

  /** When the device's live password was issued (added or last rotated); undefined when it has none. */
  passwordIssuedAt(id: string): number | undefined {
    const stored = this.file.get(id);
    return stored && stored.revokedAt === undefined ? issuedAt(stored) : undefined;
  }

  list(): DeviceCredentialInfo[] {
    return [...this.file.all()]
      .map(([id, { hash: _hash, ...info }]) => ({ id, ...info }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** A new device; returns its password, which is not kept anywhere. */
  async add(id: string, zone: string | undefined, now: number): Promise<string> {
    const secrets = await this.addAll([{ id, ...(zone !== undefined && { zone }) }], now);
    return secrets.get(id) ?? '';
  }

  /**
   * New devices, all or none, saved in one write (a floor imported from a spreadsheet rewrites
   * the file once, not once per device); returns each one's password. The hashes are made a few
   * at a time (scrypt runs on the thread pool), and `progress` is told after each.
   */
  async addAll(
    devices: readonly { id: string; zone?: string }[],
    now: number,
    progress?: (done: number, total: number) => void,
  ): Promise<Map<string, string>> {
    for (const { id, zone } of devices) {
      const problem = idProblem(id);
      if (problem) throw new CredentialError(`device id ${JSON.stringify(id.slice(0, 80))} ${problem}`);
      if (zone !== undefined) {
        const zoneProblem = idProblem(zone);
        if (zoneProblem) throw new CredentialError(`zone ${JSON.stringify(zone.slice(0, 80))} ${zoneProblem}`);
      }
      const existing = this.file.get(id);
      if (existing && existing.revokedAt === undefined)
        throw new CredentialError(`device ${id} already has a password: use "devices rotate ${id}" for a new one`);
    }
    const secrets = new Map(devices.map(({ id }) => [id, newSecret()]));
    const records: [string, StoredDevice][] = [];
    let next = 0;
    const hashing = async () => {
      while (next < devices.length) {
        const { id, zone } = devices[next++]!;
        const hash = await hashPassword(secrets.get(id)!);
        records.push([id, { hash, ...(zone !== undefined && { zone }), createdAt: now }]);
        progress?.(records.length, devices.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HASHES_AT_ONCE, devices.length) }, hashing));
    this.file.update((all) => {
      for (const [id, record] of records) all.set(id, record);
    });
    return secrets;
  }

  /** A new password for a device; the old one stops working at once. */
  async rotate(id: string, now: number): Promise<string> {
    const existing = this.file.get(id);
    if (!existing)
      throw new CredentialError(
        `no device ${JSON.stringify(id.slice(0, 80))} has a password: add it with "devices add ${id.slice(0, 80)}"`,
      );
    const secret = newSecret();
    const hash = await hashPassword(secret);
    this.file.update((records) =>
      records.set(id, {
        hash,
        ...(existing.zone !== undefined && { zone: existing.zone }),
        createdAt: existing.createdAt,
        rotatedAt: now,
      }),
    );
    return secret;
  }

  /** The device can no longer connect; its record stays so the list shows when it was revoked. */
  revoke(id: string, now: number): void {
    const existing = this.file.get(id);
    if (!existing) throw new CredentialError(`no device ${JSON.stringify(id.slice(0, 80))} has a password`);
    if (existing.revokedAt !== undefined)
      throw new CredentialError(`device ${id} was already revoked on ${new Date(existing.revokedAt).toISOString()}`);
    this.file.update((records) => records.set(id, { ...existing, revokedAt: now }));
  }

  /** The device's live password hash and when it was issued, for checking a login; undefined when it has none. */
  livePassword(id: string): { hash: string; issuedAt: number } | undefined {
    const stored = this.file.get(id);
    return stored && stored.revokedAt === undefined ? { hash: stored.hash, issuedAt: issuedAt(stored) } : undefined;
  }
}

function issuedAt(stored: StoredDevice): number {
  return stored.rotatedAt ?? stored.createdAt;
}
