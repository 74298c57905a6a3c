// `floorwatch rules [--zone <id>] [--json]`: the effective rules of every zone, as the running
// hub would apply them today, with the source of every number.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
import { siteRules } from '../rules/site.ts';
import type { Command } from './main.ts';
import type { Limit, Requirement, Sourced } from '../domain/requirement.ts';
import { unitText } from '../domain/reading.ts';

const usage = `floorwatch rules               every zone's requirements, with the source of each number
floorwatch rules --zone <id>   one zone
floorwatch rules --json        the same as GET /api/v1/rules

Read from the file FLOORWATCH_CONFIG names (and FLOORWATCH_* variables) on this machine, as a hub
started now would apply it; the running hub's own rules are at GET /api/v1/rules.
Each source is named once, at the first number it gives; the numbers after it without one share it.
Numbers marked (J) are engineering judgement, not a standard: a default to review for the site.
Change them under rules.overrides (whole site) or zones[].rules (one zone) in floorwatch.yaml.`;

function duration(ms: number): string {
  if (ms === 0) return '0';
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/** Names a source only where it changes: a requirement's numbers mostly share one. */
function citer(): (source: string) => string {
  let last: string | undefined;
  return (source) => {
    if (source === last) return '';
    last = source;
    return `  [${source}]`;
  };
}

function sourced(s: Sourced, cite: (source: string) => string, unit = ''): string {
  return `${s.value}${unit}${s.judgement ? ' (J)' : ''}${cite(s.source)}`;
}

function over(l: Limit): string {
  switch (l.over.kind) {
    case 'last':
      return 'value';
    case 'lex8h':
      return 'projected LEX,8h';
    case 'rise':
      return `rise over ${duration(l.over.windowMs)}`;
    default:
      return `${l.over.kind} over ${duration(l.over.windowMs)}`;
  }
}

function describe(req: Requirement): string {
  const cite = citer();
  const when = { occupied: 'in opening hours', unoccupied: 'outside opening hours', always: 'always' }[req.applies];
  const lines = [`  ${req.key}: ${req.title} (${unitText(req.unit)}), judged ${when}`];
  for (const l of req.limits) {
    lines.push(
      `    ${l.severity.padEnd(8)} ${over(l)} ${l.when} ${l.inclusive ? 'or at ' : ''}${sourced(l.threshold, cite, ` ${unitText(req.unit)}`)}`,
    );
    lines.push(`             for ${duration(l.for.value)}${cite(l.for.source)}`);
  }
  lines.push(
    `    clears ${req.hysteresis.value}${req.hysteresis.percent ? ' %' : ` ${unitText(req.unit)}`} inside the limit${cite(req.hysteresis.source)}`,
  );
  lines.push(`    keeps firing ${duration(req.keepFiringFor.value)} after it clears${cite(req.keepFiringFor.source)}`);
  return lines.join('\n');
}

export const command: Command = {
  summary: 'print the effective alert rules of each zone, with the source of every number',
  usage,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { zone: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    });
    const config = loadConfig();
    const rules = siteRules(config, Date.now());
    const zones = values.zone === undefined ? rules.zones : rules.zones.filter((z) => z.zone === values.zone);
    if (zones.length === 0) {
      process.stderr.write(
        `floorwatch: no zone "${values.zone}" (known: ${rules.zones.map((z) => z.zone).join(', ')})\n`,
      );
      return 2;
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...rules, zones }, null, 2)}\n`);
      return 0;
    }
    const file = process.env.FLOORWATCH_CONFIG;
    const out = [
      `read from ${file ? file : 'the defaults (no FLOORWATCH_CONFIG)'} on this machine, as a hub started now would apply it; the running hub's own rules: GET /api/v1/rules`,
      `season: ${rules.season} (${rules.seasonFrom === 'calendar' ? 'from the calendar; set site.season to fix it' : 'set in site.season'})`,
    ];
    for (const z of zones) {
      out.push('', `zone ${z.zone}${z.name ? ` — ${z.name}` : ''} (${z.type}; ${z.occupancy} now)`);
      for (const req of z.requirements) out.push(describe(req));
    }
    const l = rules.liveness;
    const cite = citer();
    out.push(
      '',
      'every zone:',
      `  offline   warning after ${sourced(l.silentIntervals, cite)} heartbeat intervals of silence or an MQTT last will; critical after ${duration(l.mainsCriticalMs.value)} [${l.mainsCriticalMs.source}] (battery devices ${duration(l.batteryCriticalMs.value)} [${l.batteryCriticalMs.source}]); recovers after ${sourced(l.freshMessagesToRecover, cite)} fresh messages`,
      `  stale     a connected device with no value of a metric for ${sourced(l.staleIntervals, cite)} of its intervals`,
      `  flapping  ${sourced(rules.flapping.changes, cite)} changes in ${duration(rules.flapping.windowMs.value)} → one flapping alert; notices held until ${duration(rules.flapping.quietMs.value)} quiet`,
      `  hub       storage down after ${duration(rules.hub.storageDownAfterMs)}; notifications failing after ${duration(rules.hub.notifyFailingAfterMs)}; storage refusing readings until none for ${duration(rules.hub.storageRejectingClearsAfterMs)}; journal backlog above ${sourced(rules.hub.backlogEntries, cite)}; disk free below ${rules.hub.diskFreeWarningPercent.value} % (warning) / ${rules.hub.diskFreeCriticalPercent.value} % (critical) (J)`,
      `  start-up  no offline alert for ${duration(rules.hub.startupGraceMs)} after the hub starts; unacknowledged critical alerts escalate after ${duration(rules.hub.escalateAfterMs)}`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  },
};
