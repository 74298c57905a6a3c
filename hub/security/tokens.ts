// API tokens: bearer tokens with a role, for people and integrations. Only a hash is kept, in
// {data_dir}/security/tokens.json; the token itself is printed once when it is created.
import { join } from 'node:path';
import { idProblem } from '../domain/reading.ts';
import { CredentialError } from './credentials.ts';
import { RecordFile } from './record-file.ts';
import { hashToken, newSecret } from './secrets.ts';

/**
 * viewer reads; operator also acknowledges and silences alerts; admin also manages devices and
 * configuration. ingest only writes readings (POST /api/v1/readings) for devices without a password
 * of their own: it reads nothing, and no other role writes readings, so a person's token cannot
 * forge a sensor's values.
 */
export const ROLES = ['viewer', 'operator', 'admin', 'ingest'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do: the people's roles in a line, ingest beside them. */
const GRANTS = new Map<Role, readonly Role[]>([
  ['viewer', ['viewer']],
  ['operator', ['viewer', 'operator']],
  ['admin', ['viewer', 'operator', 'admin']],
  ['ingest', ['ingest']],
]);

export function roleAllows(held: Role, needed: Role): boolean {
  // A role the file holds but this release does not know (edited by hand) allows nothing.
  return GRANTS.get(held)?.includes(needed) === true;
}

interface StoredToken {
  role: Role;
  hash: string;
  createdAt: number;
  revokedAt?: number;
}

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: number;
  revokedAt?: number;
}

/**
 * Where the site stands with API tokens. none: never had one, so the API is open on this machine
 * only; live: at least one works; all_revoked: it had tokens and every one was revoked, so the API
 * stays closed (a revocation must never open it).
 */
export type TokenStanding = 'none' | 'live' | 'all_revoked';

/** Prefix of every token, so one pasted in the wrong place is recognisable. */
const TOKEN_PREFIX = 'fwt_';

export class ApiTokens {
  private readonly file: RecordFile<StoredToken>;

  constructor(dataDir: string) {
    this.file = new RecordFile(join(dataDir, 'security', 'tokens.json'));
  }

  get path(): string {
    return this.file.path;
  }

  /** True while any token is live. */
  any(): boolean {
    return this.standing() === 'live';
  }

  standing(): TokenStanding {
    const records = [...this.file.all().values()];
    if (records.length === 0) return 'none';
    return records.some((t) => t.revokedAt === undefined) ? 'live' : 'all_revoked';
  }

  list(): TokenInfo[] {
    return [...this.file.all()]
      .map(([name, { hash: _hash, ...info }]) => ({ name, ...info }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  create(name: string, role: Role, now: number): string {
    const problem = idProblem(name);
    if (problem) throw new CredentialError(`token name ${JSON.stringify(name.slice(0, 80))} ${problem}`);
    if (!ROLES.includes(role))
      throw new CredentialError(`role ${JSON.stringify(role.slice(0, 40))} is not one of ${ROLES.join(', ')}`);
    const existing = this.file.get(name);
    if (existing && existing.revokedAt === undefined)
      throw new CredentialError(`a token named ${name} exists: revoke it first, or pick another name`);
    const token = `${TOKEN_PREFIX}${newSecret()}`;
    this.file.update((records) => records.set(name, { role, hash: hashToken(token), createdAt: now }));
    return token;
  }

  revoke(name: string, now: number): void {
    const existing = this.file.get(name);
    if (!existing) throw new CredentialError(`no token is named ${JSON.stringify(name.slice(0, 80))}`);
    if (existing.revokedAt !== undefined)
      throw new CredentialError(`token ${name} was already revoked on ${new Date(existing.revokedAt).toISOString()}`);
    this.file.update((records) => records.set(name, { ...existing, revokedAt: now }));
  }

  /** The live token's name, role and creation time, or undefined. */
  find(token: string): { name: string; role: Role; createdAt: number } | undefined {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const hash = hashToken(token);
    for (const [name, t] of this.file.all())
      if (t.hash === hash && t.revokedAt === undefined) return { name, role: t.role, createdAt: t.createdAt };
    return undefined;
  }

  /** When the live token of this name was created; undefined when none is live. A name revoked and created again gets a new time. */
  createdAt(name: string): number | undefined {
    const stored = this.file.get(name);
    return stored && stored.revokedAt === undefined ? stored.createdAt : undefined;
  }
}
