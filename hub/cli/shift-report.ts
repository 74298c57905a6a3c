// `floorwatch shift-report [--from <time>] [--to <time>] [--json | --html] [--url <hub>]`: the
// shift handover, asked of the running hub, printed for a terminal or a printer.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
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
    const base = values.url ?? `http://127.0.0.1:${loadConfig().http.port}`;
    const query = new URLSearchParams({
      ...(values.from !== undefined && { from: values.from }),
      ...(values.to !== undefined && { to: values.to }),
      format: values.html ? 'html' : 'json',
    });
    const token = process.env.FLOORWATCH_TOKEN;
    let response: Response;
    try {
      response = await fetch(`${base}/api/v1/reports/shift?${query.toString()}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    } catch (err) {
      process.stderr.write(
        `floorwatch: the hub does not answer at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is it running? (npm start)\n`,
      );
      return 1;
    }
    const body = await response.text();
    if (!response.ok) {
      let message = body;
      try {
        message = (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        // Not JSON: print what the hub said.
      }
      process.stderr.write(`floorwatch: the hub refused the report (${response.status}): ${message}\n`);
      return response.status === 401 || response.status === 403 ? 3 : 2;
    }
    if (values.json || values.html) process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    else process.stdout.write(layoutText(shiftLayout(JSON.parse(body) as ShiftReport)));
    return 0;
  },
};
