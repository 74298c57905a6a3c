// A report asked of the running hub and printed: as text tables for a terminal, or as the API
// gives it (--json, --html for a printer, --csv for a spreadsheet where the report has one).
import { parseArgs } from 'node:util';
import { askHub, hubUrl, refused } from './hub-api.ts';
import type { Command } from './main.ts';

export type ReportFormat = 'json' | 'html' | 'csv';

export interface ReportCommand {
  summary: string;
  usage: string;
  /** The API path, such as /api/v1/reports/shift. */
  path: string;
  /** The formats besides text the API gives. */
  formats: readonly ReportFormat[];
  /** The JSON answer as text tables. */
  text: (json: string) => string;
}

export function reportCommand(report: ReportCommand): Command {
  return {
    summary: report.summary,
    usage: report.usage,
    async run(args) {
      const { values } = parseArgs({
        args,
        options: {
          from: { type: 'string' },
          to: { type: 'string' },
          url: { type: 'string' },
          json: { type: 'boolean' },
          html: { type: 'boolean' },
          csv: { type: 'boolean' },
        },
        strict: true,
      });
      const asked = (['json', 'html', 'csv'] as const).filter((f) => values[f] === true);
      const unknown = asked.find((f) => !report.formats.includes(f));
      if (unknown !== undefined || asked.length > 1) {
        process.stderr.write(`floorwatch: give one of ${report.formats.map((f) => `--${f}`).join(', ')}\n`);
        return 2;
      }
      const query = new URLSearchParams({
        ...(values.from !== undefined && { from: values.from }),
        ...(values.to !== undefined && { to: values.to }),
        format: asked[0] ?? 'json',
      });
      const answer = await askHub(hubUrl(values.url), `${report.path}?${query.toString()}`);
      if (!answer) return 1;
      if (!answer.ok) return refused('the report', answer);
      const body = answer.body;
      process.stdout.write(asked.length > 0 ? (body.endsWith('\n') ? body : `${body}\n`) : report.text(body));
      return 0;
    },
  };
}
