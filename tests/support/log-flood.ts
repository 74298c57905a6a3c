// A process that logs far more than its standard output takes, for telemetry-log-blocked.test.ts:
// its reader does not read. It logs 100 MB of lines (argv[2]: text or json), then says on standard
// error how much its memory grew and how many lines were dropped, and waits to be stopped.
import { createLog } from '../../hub/telemetry/log.ts';

const format = process.argv[2] === 'text' ? 'text' : 'json';
let dropped = 0;
const log = createLog({
  level: 'info',
  format,
  site: 'Harbour',
  maxWaitingBytes: 1024 * 1024,
  onDropped: () => (dropped += 1),
});
const gc = (globalThis as { gc?: () => void }).gc;
const rss = () => {
  gc?.();
  return process.memoryUsage().rss;
};
const before = rss();
const padding = 'x'.repeat(1000);
for (let batch = 0; batch < 100; batch++) {
  for (let i = 0; i < 1000; i++) log.info({ batch, i, padding }, 'a line nobody reads yet');
  // A turn of the event loop between batches, as a running hub has: the output's writes happen in it.
  await new Promise((resolve) => setImmediate(resolve));
}
process.stderr.write(`${JSON.stringify({ grewBy: rss() - before, dropped })}\n`);
setInterval(() => undefined, 60_000);
