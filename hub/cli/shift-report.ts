// `floorwatch shift-report [--from <time>] [--to <time>] [--json | --html] [--url <hub>]`: the
// shift handover, asked of the running hub, printed for a terminal or a printer.
import { layoutText, shiftLayout } from '../reports/layout.ts';
import type { ShiftReport } from '../reports/shift.ts';
import { reportCommand } from './report-command.ts';

const usage = `floorwatch shift-report                      the current shift so far
floorwatch shift-report --from 2025-03-03T06:00 --to 2025-03-03T14:00
floorwatch shift-report --from -8h            the last 8 hours
  --json      the same as GET /api/v1/reports/shift
  --html      a printable page (save it and open it in a browser)
  --url       the hub's address (default: this machine, the port in floorwatch.yaml)

Times are ms since 1970, an ISO 8601 date, or relative such as -8h. When the hub has API tokens,
set FLOORWATCH_TOKEN to one (viewer, operator or admin).`;

export const command = reportCommand({
  summary: 'print the shift handover report: environment, noise, alerts, offline devices, faults',
  usage,
  path: '/api/v1/reports/shift',
  formats: ['json', 'html'],
  text: (json) => layoutText(shiftLayout(JSON.parse(json) as ShiftReport)),
});
