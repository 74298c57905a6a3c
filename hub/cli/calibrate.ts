// `floorwatch devices calibrate`: sets a calibration offset on the running hub
// (PUT /api/v1/devices/{id}/calibration/{metric}), which applies it to the next reading and keeps
// who set it and when; the audit log has it too.
import type { OffsetView } from '../ingest/calibration.ts';
import { askHub, hubUrl, refused } from './hub-api.ts';

export const calibrateUsage = `floorwatch devices calibrate <device-id> <metric> --offset=<n> --by <name> [--url <hub>]
                                                        add n (in the metric's unit) to each reading from now on;
                                                        --offset=0 removes it`;

export async function calibrate(
  device: string | undefined,
  metric: string | undefined,
  values: { offset?: string | undefined; by?: string | undefined; url?: string | undefined },
): Promise<number> {
  const offset = values.offset === undefined ? Number.NaN : Number(values.offset);
  if (device === undefined || metric === undefined || !Number.isFinite(offset) || values.by === undefined) {
    process.stderr.write(
      `floorwatch: say the device, the metric, the offset and who you are, e.g.\n  floorwatch devices calibrate t-1 temperature --offset=-0.4 --by li.wei\n`,
    );
    return 2;
  }
  const path = `/api/v1/devices/${encodeURIComponent(device)}/calibration/${encodeURIComponent(metric)}`;
  const answer = await askHub(hubUrl(values.url), path, {
    method: 'PUT',
    body: JSON.stringify({ offset, by: values.by }),
  });
  if (!answer) return 1;
  if (!answer.ok) return refused(`the calibration of ${metric} on ${device}`, answer);
  const { calibration } = JSON.parse(answer.body) as { calibration: Record<string, OffsetView> };
  const lines = Object.entries(calibration).map(
    ([m, o]) =>
      `  ${m.padEnd(20)} ${o.offset > 0 ? '+' : ''}${o.offset}  (${o.source}${o.by === undefined ? '' : `, ${o.by}`})`,
  );
  process.stdout.write(
    `${offset === 0 ? `calibration of ${metric} on ${device} removed` : `${metric} on ${device} is calibrated by ${offset > 0 ? '+' : ''}${offset} from the next reading`}\n` +
      (lines.length > 0
        ? `offsets of ${device} now:\n${lines.join('\n')}\n`
        : `${device} has no calibration offsets now\n`),
  );
  return 0;
}
