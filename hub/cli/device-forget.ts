// `floorwatch devices forget`: tells the running hub a device no one declared is gone from the
// floor (POST /api/v1/devices/{id}/forget): its alerts resolve and it leaves the device list.
import { askHub, hubUrl, refused } from './hub-api.ts';

export const forgetUsage = `floorwatch devices forget <device-id> --by <name> [--force] [--url <hub>]
                                                        a device no one declared is gone from the floor:
                                                        its alerts resolve, it leaves the device list
                                                        (--force: though it is still shown online)`;

export async function forgetDevice(
  device: string | undefined,
  values: { by?: string | undefined; force?: boolean | undefined; url?: string | undefined },
): Promise<number> {
  if (device === undefined || values.by === undefined) {
    process.stderr.write(
      `floorwatch: say the device and who you are, e.g.\n  floorwatch devices forget phone-0412 --by li.wei\n`,
    );
    return 2;
  }
  const answer = await askHub(hubUrl(values.url), `/api/v1/devices/${encodeURIComponent(device)}/forget`, {
    method: 'POST',
    body: JSON.stringify({ by: values.by, ...(values.force === true && { force: true }) }),
  });
  if (!answer) return 1;
  if (!answer.ok) return refused(`to forget ${device}`, answer);
  process.stdout.write(`${(JSON.parse(answer.body) as { message: string }).message}\n`);
  return 0;
}
