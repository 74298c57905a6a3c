// `floorwatch devices add|rotate|revoke|list`: device passwords for the broker. A new password is
// printed once and kept only as a hash; every change goes to the audit log. `calibrate` and
// `forget`: an offset set on, or a device gone from the floor told to, the running hub.
import { parseArgs } from 'node:util';
import { CredentialError, DeviceCredentials } from '../security/credentials.ts';
import { calibrate, calibrateUsage } from './calibrate.ts';
import { changeCredentials, date } from './credential-change.ts';
import { exportRows } from './device-list.ts';
import { forgetDevice, forgetUsage } from './device-forget.ts';
import { importDevices } from './device-import.ts';
import type { Command } from './main.ts';

const usage = `floorwatch devices add <device-id> [--zone <zone-id>]   new device: prints its password once
floorwatch devices rotate <device-id>                   new password; the old one stops working
floorwatch devices revoke <device-id>                   the device can no longer connect
floorwatch devices list                                 devices with passwords, and when they changed
floorwatch devices import devices.csv                   declare the file's devices in the configuration file
                                                        and give each one without a password one (printed once)
floorwatch devices export                               the declared devices as CSV, in the columns import reads
${calibrateUsage}
${forgetUsage}

The device connects with user name and client id = its id, and the printed password.
A device list has a first line naming its columns: id, kind (phone, headset, pc, server, sensor,
gateway), zone, position and interval (the heartbeat interval, such as 60s), the last three
optional. A file with any bad row changes nothing; importing it again changes nothing. Import and
export work on the file FLOORWATCH_CONFIG names; reload the hub afterwards (kill -HUP, or
POST /api/v1/config/reload).
--zone must be one of the configuration's zones when it lists any.
Passwords are kept in {data_dir}/security/devices.json as scrypt hashes. A running hub closes,
within a second, a connection made with a password that was rotated or revoked.`;

function printSecret(id: string, secret: string): void {
  process.stdout.write(
    `device:    ${id}\nclient id: ${id}\nuser name: ${id}\npassword:  ${secret}\n\nThis password is shown once: put it in the device's configuration now.\n`,
  );
}

export const command: Command = {
  summary: 'add, rotate, revoke or list device passwords for MQTT; calibrate a sensor; forget a retired device',
  usage,
  async run(args) {
    const { positionals, values } = parseArgs({
      args,
      options: {
        zone: { type: 'string' },
        offset: { type: 'string' },
        by: { type: 'string' },
        force: { type: 'boolean' },
        url: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
    const [action, id, metric] = positionals;
    if (action === 'calibrate') return calibrate(id, metric, values);
    if (action === 'forget') return forgetDevice(id, values);
    return changeCredentials('devices', async ({ config, audit, who }) => {
      const credentials = new DeviceCredentials(config.data_dir);
      const now = Date.now();
      if (action === 'list') {
        const list = credentials.list();
        if (list.length === 0)
          process.stdout.write('no device has a password yet: anonymous clients are accepted on this machine only\n');
        for (const d of list) {
          const state =
            d.revokedAt !== undefined
              ? `revoked ${date(d.revokedAt)}`
              : d.rotatedAt !== undefined
                ? `rotated ${date(d.rotatedAt)}`
                : 'active';
          process.stdout.write(
            `${d.id.padEnd(24)} zone ${(d.zone ?? '-').padEnd(16)} added ${date(d.createdAt)}  ${state}\n`,
          );
        }
        return 0;
      }
      if (action === 'export') {
        process.stdout.write(exportRows(config));
        return 0;
      }
      if (action === 'import' && id !== undefined)
        return importDevices(id, { config, credentials, audit, who, now }, printSecret);
      if (id === undefined || (action !== 'add' && action !== 'rotate' && action !== 'revoke')) {
        process.stderr.write(`usage:\n${usage}\n`);
        return 2;
      }
      if (action === 'add') {
        const zones = config.zones.map((z) => z.id);
        if (values.zone !== undefined && zones.length > 0 && !zones.includes(values.zone)) {
          throw new CredentialError(
            `zone ${JSON.stringify(values.zone.slice(0, 80))} is not one of the zones in the configuration (known: ${zones.join(', ')}); nothing was changed`,
          );
        }
        const first = !credentials.any();
        printSecret(id, await credentials.add(id, values.zone, now));
        audit.record(who, 'device.add', { device: id, ...(values.zone !== undefined && { zone: values.zone }) });
        if (first)
          process.stdout.write(
            'This is the first device password: from now on every device needs one, and the running hub closes anonymous MQTT connections within a second.\n',
          );
      } else if (action === 'rotate') {
        printSecret(id, await credentials.rotate(id, now));
        audit.record(who, 'device.rotate', { device: id });
        process.stdout.write(
          `The running hub closes a connection ${id} has open with the old password within a second; the device reconnects once it has the new one.\n`,
        );
      } else {
        credentials.revoke(id, now);
        audit.record(who, 'device.revoke', { device: id });
        process.stdout.write(
          `device ${id} revoked: it can no longer connect, and the running hub closes a connection it has open within a second\n`,
        );
      }
      return 0;
    });
  },
};
