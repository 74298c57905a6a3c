// `floorwatch silences`: silences and recurring maintenance windows, asked of and given to the
// running hub (GET/POST/DELETE /api/v1/silences), so the rule engine holds them as it holds any.
import { parseArgs } from 'node:util';
import type { Silence } from '../domain/alert.ts';
import { DAYS } from '../domain/hours.ts';
import { askHub, hubUrl, refused } from './hub-api.ts';
import type { Command } from './main.ts';

const usage = `floorwatch silences                                   list silences and maintenance windows
floorwatch silences add --zone floor-a --for 2h --by li.wei --comment "carpet cleaning"
floorwatch silences add --zone floor-a --kind equipment --every week --days tue --start 02:00 --duration 2h --by li.wei
floorwatch silences add --device srv-1 --every month --nth 3 --weekday tue --start 22:00 --duration 4h --by li.wei
floorwatch silences remove 12
  matchers    --zone, --device, --rule (e.g. noise, offline), --severity, --kind (environment, equipment,
              offline, stale, hub, flapping), --key (an alert key such as offline.hs-a2): at least one
  one-off     --for 2h (from now), or --from / --until (times as the API takes them)
  recurring   --every week --days tue,thu | --every month --nth 1..4 or -1 (last) --weekday tue;
              --start HH:MM and --duration (at most a day; may cross midnight) in the site's time zone;
              in force for a year unless --until
  --url       the hub's address (default: this machine, the port in floorwatch.yaml)

When the hub has API tokens, set FLOORWATCH_TOKEN to an operator's or admin's.`;

function describe(s: Silence & { active?: boolean }): string {
  const what = Object.entries(s.matchers)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const r = s.recurrence;
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const when = r
    ? `${r.every === 'week' ? `every ${(r.days ?? []).map((d) => DAYS[d]).join(',')}` : `the ${r.nth === -1 ? 'last' : `#${r.nth}`} ${DAYS[r.weekday ?? 0]} of each month`} ${hhmm(r.startMinute)} for ${Math.round(r.durationMs / 60_000)} min (${r.timeZone}), until ${new Date(s.endsAt).toISOString()}`
    : `${new Date(s.startsAt).toISOString()} → ${new Date(s.endsAt).toISOString()}`;
  const state = s.active === undefined ? '' : s.active ? 'in force  ' : 'waiting   ';
  return `${String(s.id).padStart(4)}  ${state}${what}  ${when}  — ${s.createdBy}${s.comment ? `: ${s.comment}` : ''}`;
}

export const command: Command = {
  summary: 'list, add and remove silences and recurring maintenance windows on the running hub',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        zone: { type: 'string' },
        device: { type: 'string' },
        rule: { type: 'string' },
        severity: { type: 'string' },
        kind: { type: 'string' },
        key: { type: 'string' },
        for: { type: 'string' },
        from: { type: 'string' },
        until: { type: 'string' },
        every: { type: 'string' },
        days: { type: 'string' },
        nth: { type: 'string' },
        weekday: { type: 'string' },
        start: { type: 'string' },
        duration: { type: 'string' },
        by: { type: 'string' },
        comment: { type: 'string' },
        url: { type: 'string' },
      },
      strict: true,
    });
    const base = hubUrl(values.url);
    const [action = 'list', id] = positionals;
    if (action === 'list') {
      const answer = await askHub(base, '/api/v1/silences');
      if (!answer) return 1;
      if (!answer.ok) return refused('the list', answer);
      const { silences } = JSON.parse(answer.body) as { silences: (Silence & { active: boolean })[] };
      process.stdout.write(silences.length === 0 ? 'no silences\n' : `${silences.map(describe).join('\n')}\n`);
      return 0;
    }
    if (action === 'remove') {
      if (id === undefined || !/^\d+$/.test(id)) {
        process.stderr.write('floorwatch: say which silence to remove, e.g. floorwatch silences remove 12\n');
        return 2;
      }
      const answer = await askHub(base, `/api/v1/silences/${id}`, { method: 'DELETE' });
      if (!answer) return 1;
      if (!answer.ok) return refused(`to remove silence ${id}`, answer);
      process.stdout.write(`silence ${id} removed\n`);
      return 0;
    }
    if (action !== 'add') {
      process.stderr.write(`floorwatch: silences ${action}? use list, add or remove (floorwatch help silences)\n`);
      return 2;
    }
    const matchers = Object.fromEntries(
      (['zone', 'device', 'rule', 'severity', 'kind', 'key'] as const).flatMap((k) =>
        values[k] === undefined ? [] : [[k, values[k]]],
      ),
    );
    const recurrence =
      values.every === undefined
        ? undefined
        : {
            every: values.every,
            ...(values.days !== undefined && { days: values.days.split(',') }),
            ...(values.nth !== undefined && { nth: Number(values.nth) }),
            ...(values.weekday !== undefined && { weekday: values.weekday }),
            start: values.start,
            duration: values.duration,
          };
    const body = {
      matchers,
      ...(values.from !== undefined && { startsAt: values.from }),
      ...(values.until !== undefined && { endsAt: values.until }),
      ...(values.for !== undefined && { duration: values.for }),
      ...(recurrence && { recurrence }),
      createdBy: values.by ?? process.env.USER ?? '',
      ...(values.comment !== undefined && { comment: values.comment }),
    };
    const answer = await askHub(base, '/api/v1/silences', { method: 'POST', body: JSON.stringify(body) });
    if (!answer) return 1;
    if (!answer.ok) return refused('the silence', answer);
    process.stdout.write(`added: ${describe(JSON.parse(answer.body) as Silence).trimStart()}\n`);
    return 0;
  },
};
