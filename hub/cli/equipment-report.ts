// `floorwatch equipment-report [--from <time>] [--to <time>] [--json | --html | --csv] [--url <hub>]`:
// the equipment record for the maintenance plan, asked of the running hub.
import type { EquipmentReport } from '../reports/equipment.ts';
import { equipmentLayout, layoutText } from '../reports/layout.ts';
import { reportCommand } from './report-command.ts';

const usage = `floorwatch equipment-report                  the last 30 days
floorwatch equipment-report --from 2025-01-01 --to 2025-04-01
floorwatch equipment-report --csv > equipment.csv
  --json      the same as GET /api/v1/reports/equipment
  --html      a printable page (save it and open it in a browser)
  --csv       one row per device, for a spreadsheet or a maintenance system's import
  --url       the hub's address (default: this machine, the port in floorwatch.yaml)

Times are ms since 1970, an ISO 8601 date, or relative such as -90d. When the hub has API tokens,
set FLOORWATCH_TOKEN to one (viewer, operator or admin).`;

export const command = reportCommand({
  summary: 'print the equipment record: availability, incidents, mean time to repair, frequent faults',
  usage,
  path: '/api/v1/reports/equipment',
  formats: ['json', 'html', 'csv'],
  text: (json) => layoutText(equipmentLayout(JSON.parse(json) as EquipmentReport)),
});
