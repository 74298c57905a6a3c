// The storage ceiling: raw line-protocol writes straight to InfluxDB's /write, batched the way the
// hub batches, with no broker and no hub in between.
export async function rawInfluxWrite(influxUrl: string, points: number, batch = 5000): Promise<{ points: number; seconds: number }> {
  const url = new URL(influxUrl);
  const db = url.pathname.slice(1);
  await fetch(`${url.origin}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
  const base = Date.now() - points;
  const bodies: string[] = [];
  for (let start = 0; start < points; start += batch) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(points, start + batch); i++) lines.push(`co2,device=raw-${i % 500},zone=bench value=${i % 2000} ${base + Math.floor(i / 500)}`);
    bodies.push(lines.join('\n'));
  }
  const started = performance.now();
  for (const body of bodies) {
    const response = await fetch(`${url.origin}/write?db=${db}&precision=ms`, { method: 'POST', body });
    if (!response.ok) throw new Error(`raw InfluxDB write failed: ${response.status} ${await response.text()}`);
  }
  return { points, seconds: (performance.now() - started) / 1000 };
}

/** Polls a count query until it reaches `expected`; resolves with the time it was reached. */
export async function waitForCount(influxUrl: string, measurement: string, expected: number, timeoutMs: number): Promise<number> {
  const url = new URL(influxUrl);
  const db = url.pathname.slice(1);
  const deadline = performance.now() + timeoutMs;
  let last = 0;
  while (performance.now() < deadline) {
    const q = `SELECT count("value") FROM "${measurement}"`;
    const response = await fetch(`${url.origin}/query?db=${db}&q=${encodeURIComponent(q)}`);
    const body = (await response.json()) as { results: Array<{ series?: Array<{ values: Array<[string, number]> }> }> };
    last = body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
    if (last >= expected) return performance.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`InfluxDB holds ${last} of ${expected} ${measurement} readings after ${timeoutMs} ms`);
}
