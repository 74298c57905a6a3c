// Checking device passwords without letting logins crowd out the journal. scrypt runs on Node's
// thread pool, which the journal's writes and fsyncs share: at most `atOnce` checks run at a time
// and `waiting` more wait their turn; any further login is answered "busy" at once (the broker
// says CONNACK 3, server unavailable) and the client tries again later.
//
// A device that reconnects with the password it last proved pays no scrypt at all. For up to
// `remember` devices the hub keeps an HMAC-SHA256 of that password under a key drawn at start and
// never stored, tied to the stored hash it was checked against. Why this is safe:
// - a rotation or revocation changes or removes the stored hash, so the remembered proof no
//   longer matches anything: the next login pays scrypt again and the old password fails;
// - device passwords are 256 random bits the hub generated (newSecret), so a fast hash of one
//   cannot be searched any more than the stored scrypt hash can (the reason API tokens are kept
//   as SHA-256); scrypt stays as the one on disk. The HMAC key lives only in this process;
// - a different password can match a remembered device only by an HMAC collision, so a
//   mismatch is a wrong password, refused without scrypt too;
// - comparisons are constant-time.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DeviceCredentials } from './credentials.ts';
import { verifyPassword } from './secrets.ts';
import { Turns } from '../domain/turns.ts';

export type PasswordVerdict = { issuedAt: number } | 'wrong' | 'busy';

/** How a password was judged: by scrypt, or against the proof remembered from the device's last login. */
export type PasswordCheck = 'scrypt' | 'remembered';

export interface PasswordCheckOptions {
  credentials: DeviceCredentials;
  atOnce: number;
  waiting: number;
  /** Devices whose last proved password is remembered; the longest unseen is forgotten first. */
  remember: number;
  onCheck?: (how: PasswordCheck) => void;
}

export class PasswordChecks {
  private readonly turns: Turns;
  private readonly remembered = new Map<string, { hash: string; proof: Buffer }>();
  private readonly key = randomBytes(32);

  constructor(private readonly options: PasswordCheckOptions) {
    this.turns = new Turns(options.atOnce, options.waiting);
  }

  /** `gone` tells, when the check's turn comes, that the connection asking has closed meanwhile: then no scrypt runs for it. */
  async check(device: string, password: Buffer | string, gone: () => boolean = () => false): Promise<PasswordVerdict> {
    const live = this.options.credentials.livePassword(device);
    if (!live) return 'wrong';
    const proof = createHmac('sha256', this.key).update(device).update('\0').update(password).digest();
    const known = this.remembered.get(device);
    if (known && known.hash === live.hash) {
      this.options.onCheck?.('remembered');
      if (!timingSafeEqual(known.proof, proof)) return 'wrong';
      this.remember(device, known);
      return { issuedAt: live.issuedAt };
    }
    return this.turns.run<PasswordVerdict>(
      async () => {
        if (gone()) return 'busy';
        this.options.onCheck?.('scrypt');
        if (!(await verifyPassword(password, live.hash))) return 'wrong';
        this.remember(device, { hash: live.hash, proof });
        return { issuedAt: live.issuedAt };
      },
      () => 'busy',
    );
  }

  private remember(device: string, entry: { hash: string; proof: Buffer }): void {
    this.remembered.delete(device);
    this.remembered.set(device, entry);
    if (this.remembered.size > this.options.remember) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }
}
