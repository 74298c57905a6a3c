// `floorwatch tokens create|revoke|list`: API tokens with a role. A new token is printed once and
// kept only as a hash; every change goes to the audit log.
import { parseArgs } from 'node:util';
import { CredentialError } from '../security/credentials.ts';
import { ApiTokens, ROLES, type Role } from '../security/tokens.ts';
import { changeCredentials, date } from './credential-change.ts';
import type { Command } from './main.ts';

const usage = `floorwatch tokens create <name> --role viewer|operator|admin|ingest   prints the token once
floorwatch tokens revoke <name>                                         the token stops working at once
floorwatch tokens list

viewer reads; operator also acknowledges and silences alerts; admin also manages devices and
configuration. ingest only sends readings (POST /api/v1/readings), for devices that have no
password of their own, and reads nothing; no other role sends readings. Once any token exists,
every API request needs one:
  curl -H "Authorization: Bearer <token>" http://127.0.0.1:8080/api/v1/devices
An integration can also log in to MQTT with user name = the token's name and password = the token
(not with an ingest token).
A running hub closes, within a second, the live feeds and MQTT connections opened with a revoked token.`;

export const command: Command = {
  summary: 'create, revoke or list API tokens (viewer, operator, admin, ingest)',
  usage,
  async run(args) {
    const { positionals, values } = parseArgs({ args, options: { role: { type: 'string' } }, allowPositionals: true, strict: true });
    const [action, name] = positionals;
    return changeCredentials('tokens', async ({ config, audit, who }) => {
      const tokens = new ApiTokens(config.data_dir);
      if (action === 'list') {
        const list = tokens.list();
        if (list.length === 0) process.stdout.write('no API tokens: the API is open to this machine only\n');
        for (const t of list) process.stdout.write(`${t.name.padEnd(24)} ${t.role.padEnd(9)} created ${date(t.createdAt)}  ${t.revokedAt !== undefined ? `revoked ${date(t.revokedAt)}` : 'active'}\n`);
        return 0;
      }
      if (name === undefined || (action !== 'create' && action !== 'revoke')) {
        process.stderr.write(`usage:\n${usage}\n`);
        return 2;
      }
      if (action === 'create') {
        if (values.role === undefined) throw new CredentialError(`give the token a role: --role ${ROLES.join('|')}`);
        const first = !tokens.any();
        const token = tokens.create(name, values.role as Role, Date.now());
        audit.record(who, 'token.create', { token: name, role: values.role });
        process.stdout.write(`token ${name} (${values.role}):\n${token}\n\nThis token is shown once: store it now.\n`);
        if (first) process.stdout.write('This is the first API token: from now on every request needs one, and the running hub ends live feeds opened without one within a second.\n');
      } else {
        tokens.revoke(name, Date.now());
        audit.record(who, 'token.revoke', { token: name });
        process.stdout.write(`token ${name} revoked: no request is accepted with it any more, and the running hub closes the live feeds and MQTT connections opened with it within a second\n`);
      }
      return 0;
    });
  },
};
