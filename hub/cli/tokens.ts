// `floorwatch tokens create|revoke|list`: API tokens with a role. A new token is printed once and
// kept only as a hash; every change goes to the audit log.
import { parseArgs } from 'node:util';
import { CredentialError } from '../security/credentials.ts';
import { ApiTokens, ROLES, type Role } from '../security/tokens.ts';
import { changeCredentials, date } from './credential-change.ts';
import type { Command } from './main.ts';

const CREATE_ADMIN = 'npm run floorwatch -- tokens create <name> --role admin';

const usage = `floorwatch tokens create <name> --role viewer|operator|admin|ingest   prints the token once
floorwatch tokens revoke <name> [--force]                               the token stops working at once
floorwatch tokens list

viewer reads; operator also acknowledges and silences alerts; admin also manages devices and
configuration. ingest only sends readings (POST /api/v1/readings), for devices that have no
password of their own, and reads nothing; no other role sends readings. Once any token exists,
every API request needs one:
  curl -H "Authorization: Bearer <token>" http://127.0.0.1:8080/api/v1/devices
An integration can also log in to MQTT with user name = the token's name and password = the token
(not with an ingest token).
A running hub closes, within a second, the live feeds and MQTT connections opened with a revoked token.
A site that has had a token never opens its API again by itself: revoking the last live token is
refused, since it would close the API to everyone; create another admin token first, or add
--force to close it on purpose until a new token is created.`;

export const command: Command = {
  summary: 'create, revoke or list API tokens (viewer, operator, admin, ingest)',
  usage,
  async run(args) {
    const { positionals, values } = parseArgs({
      args,
      options: { role: { type: 'string' }, force: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
    const [action, name] = positionals;
    return changeCredentials('tokens', async ({ config, audit, who }) => {
      const tokens = new ApiTokens(config.data_dir);
      if (action === 'list') {
        const list = tokens.list();
        if (list.length === 0) process.stdout.write('no API tokens: the API is open to this machine only\n');
        for (const t of list)
          process.stdout.write(
            `${t.name.padEnd(24)} ${t.role.padEnd(9)} created ${date(t.createdAt)}  ${t.revokedAt !== undefined ? `revoked ${date(t.revokedAt)}` : 'active'}\n`,
          );
        if (tokens.standing() === 'all_revoked')
          process.stdout.write(
            `no token is live: the API refuses every request until one is created: ${CREATE_ADMIN}\n`,
          );
        return 0;
      }
      if (name === undefined || (action !== 'create' && action !== 'revoke')) {
        process.stderr.write(`usage:\n${usage}\n`);
        return 2;
      }
      if (action === 'create') {
        if (values.role === undefined) throw new CredentialError(`give the token a role: --role ${ROLES.join('|')}`);
        const before = tokens.standing();
        const token = tokens.create(name, values.role as Role, Date.now());
        audit.record(who, 'token.create', { token: name, role: values.role });
        process.stdout.write(`token ${name} (${values.role}):\n${token}\n\nThis token is shown once: store it now.\n`);
        if (before === 'none')
          process.stdout.write(
            'This is the first API token: from now on every request needs one, and the running hub ends live feeds opened without one within a second.\n',
          );
        if (before === 'all_revoked')
          process.stdout.write(
            'The API, closed since the last token was revoked, accepts requests with this token again.\n',
          );
        return 0;
      }
      const live = tokens.list().filter((t) => t.revokedAt === undefined);
      const last = live.length === 1 && live[0]?.name === name;
      if (last && !values.force) {
        throw new CredentialError(
          `token ${name} is the last live API token; nothing was changed. Revoking it would close the API to everyone (the floor page, scripts, Prometheus), because a site that has had tokens never opens again without one. Create another admin token first (${CREATE_ADMIN}) and then revoke ${name}; or, to close the API on purpose until a new token is created: npm run floorwatch -- tokens revoke ${name} --force`,
        );
      }
      tokens.revoke(name, Date.now());
      audit.record(who, 'token.revoke', { token: name, ...(last && { last: true }) });
      process.stdout.write(
        `token ${name} revoked: no request is accepted with it any more, and the running hub closes the live feeds and MQTT connections opened with it within a second\n`,
      );
      if (last) {
        process.stderr.write(
          config.security.allow_anonymous
            ? '\n*** WARNING: no API token is live any more, and security.allow_anonymous is on: the API now answers WITHOUT A TOKEN to anyone who can reach the hub. ***\n\n'
            : `\n*** WARNING: no API token is live any more. The API is now CLOSED TO EVERYONE: every request is refused (401) until an administrator creates a new token on this machine: ***\n    ${CREATE_ADMIN}\n\n`,
        );
      }
      return 0;
    });
  },
};
