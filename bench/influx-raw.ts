// The storage ceiling: raw line-protocol writes straight to InfluxDB's /write, batched the way the
// hub batches, with no broker and no hub in between. Also how the bench makes a database and
// counts what landed in one.

/** Makes the database named by the path of `influxUrl` (http://host:port/<database>). */
export async function createDatabase(influxUrl: string): Promise<void> {
  const url = new URL(influxUrl);
  const response = await fetch(`${url.origin}/query`, {
    method: 'POST',
    body: new URLSearchParams({ q: `CREATE DATABASE "${url.pathname.slice(1)}"` }),
  });
  if (!response.ok)
    throw new Error(
      `could not create InfluxDB database ${url.pathname.slice(1)}: ${response.status} ${await response.text()}`,
    );
}

export async function rawInfluxWrite(
  influxUrl: string,
  points: number,
  batch = 5000,
): Promise<{ points: number; seconds: number }> {
  const url = new URL(influxUrl);
  const db = url.pathname.slice(1);
  await createDatabase(influxUrl);
  const base = Date.now() - points;
  const bodies: string[] = [];
  for (let start = 0; start < points; start += batch) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(points, start + batch); i++)
      lines.push(`co2,device=raw-${i % 500},zone=bench value=${i % 2000} ${base + Math.floor(i / 500)}`);
    bodies.push(lines.join('\n'));
  }
  const started = performance.now();
  for (const body of bodies) {
    const response = await fetch(`${url.origin}/write?db=${db}&precision=ms`, { method: 'POST', body });
    if (!response.ok) throw new Error(`raw InfluxDB write failed: ${response.status} ${await response.text()}`);
  }
  return { points, seconds: (performance.now() - started) / 1000 };
}

/** Points of `measurement` the database holds now (0 before the first write). */
export async function countPoints(influxUrl: string, measurement: string): Promise<number> {
  const url = new URL(influxUrl);
  const q = `SELECT count("value") FROM "${measurement}"`;
  const response = await fetch(`${url.origin}/query?db=${url.pathname.slice(1)}&q=${encodeURIComponent(q)}`);
  const body = (await response.json()) as { results: Array<{ series?: Array<{ values: Array<[string, number]> }> }> };
  return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

export interface StoredCount {
  count: number;
  /** When `count` was first seen, performance.now() time. */
  at: number;
}

/**
 * Polls the count until it reaches `expected`, `timeoutMs` is up, or, with `stallMs`, the count has
 * not grown for that long (a pipeline that dropped readings will not reach `expected`).
 */
export async function countUntil(
  influxUrl: string,
  measurement: string,
  expected: number,
  { timeoutMs, stallMs = Infinity }: { timeoutMs: number; stallMs?: number },
): Promise<StoredCount> {
  const deadline = performance.now() + timeoutMs;
  let last: StoredCount = { count: -1, at: performance.now() };
  for (;;) {
    const count = await countPoints(influxUrl, measurement);
    const now = performance.now();
    if (count !== last.count) last = { count, at: now };
    if (count >= expected || now >= deadline || now - last.at >= stallMs) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls a count query until it reaches `expected`; resolves with the time it was reached. */
export async function waitForCount(
  influxUrl: string,
  measurement: string,
  expected: number,
  timeoutMs: number,
): Promise<number> {
  const stored = await countUntil(influxUrl, measurement, expected, { timeoutMs });
  if (stored.count < expected)
    throw new Error(`InfluxDB holds ${stored.count} of ${expected} ${measurement} readings after ${timeoutMs} ms`);
  return stored.at;
}
