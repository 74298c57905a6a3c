// Asking the running hub's API from the command line: its address (this machine, the port in
// floorwatch.yaml, unless --url), the token in FLOORWATCH_TOKEN, and what it answers in words.
import { loadConfig } from '../config/config.ts';

export interface HubAnswer {
  ok: boolean;
  status: number;
  body: string;
}

/** The hub's address: --url, or this machine on the configured port. */
export function hubUrl(url: string | undefined): string {
  return url ?? `http://127.0.0.1:${loadConfig().http.port}`;
}

/** Calls the hub; a hub that does not answer is said on stderr and gives undefined. */
export async function askHub(base: string, path: string, init: RequestInit = {}): Promise<HubAnswer | undefined> {
  const token = process.env.FLOORWATCH_TOKEN;
  try {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: {
        ...(init.body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
    });
    return { ok: response.ok, status: response.status, body: await response.text() };
  } catch (err) {
    const cause =
      (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    process.stderr.write(`floorwatch: the hub does not answer at ${base} (${cause}); is it running? (npm start)\n`);
    return undefined;
  }
}

/** Says why the hub refused, and gives the exit code: 3 for a missing or weak token, 2 otherwise. */
export function refused(what: string, answer: HubAnswer): number {
  let message = answer.body;
  try {
    message = (JSON.parse(answer.body) as { message?: string }).message ?? answer.body;
  } catch {
    // Not JSON: print what the hub said.
  }
  process.stderr.write(`floorwatch: the hub refused ${what} (${answer.status}): ${message}\n`);
  return answer.status === 401 || answer.status === 403 ? 3 : 2;
}
