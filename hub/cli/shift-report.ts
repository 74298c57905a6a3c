// `floorwatch shift-report [--from <time>] [--to <time>] [--json | --html] [--url <hub>]`: the
// shift handover, asked of the running hub, printed for a terminal or a printer.
import { parseArgs } from 'node:util';
import { askHub, hubUrl, refused } from './hub-api.ts';
import { layoutText, shiftLayout } from '../reports/layout.ts';
import type { ShiftReport } from '../reports/shift.ts';
import type { Command } from './main.ts';

const usage = `floorwatch shift-report                      the current shift so far
floorwatch shift-report --from 2025-03-03T06:00 --to 2025-03-03T14:00
floorwatch shift-report --from -8h            the last 8 hours
  --json      the same as GET /api/v1/reports/shift
  --html      a printable page (save it and open it in a browser)
  --url       the hub's address (default: this machine, the port in floorwatch.yaml)

Times are ms since 1970, an ISO 8601 date, or relative such as -8h. When the hub has API tokens,
set FLOORWATCH_TOKEN to one (viewer, operator or admin).`;

export const command: Command = {
  summary: 'print the shift handover report: environment, noise, alerts, offline devices, faults',
  usage,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'boolean' },
        url: { type: 'string' },
      },
      strict: true,
    });
    const base = hubUrl(values.url);
    const query = new URLSearchParams({
      ...(values.from !== undefined && { from: values.from }),
      ...(values.to !== undefined && { to: values.to }),
      format: values.html ? 'html' : 'json',
    });
    const answer = await askHub(base, `/api/v1/reports/shift?${query.toString()}`);
    if (!answer) return 1;
    if (!answer.ok) return refused('the report', answer);
    const body = answer.body;
    if (values.json || values.html) process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    else process.stdout.write(layoutText(shiftLayout(JSON.parse(body) as ShiftReport)));
    return 0;
  },
};
