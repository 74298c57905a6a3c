// Logs argv[2] lines in the text format and exits, for telemetry-log-blocked.test.ts.
import { createLog } from '../../hub/telemetry/log.ts';

const log = createLog({ level: 'info', format: 'text', site: 'Harbour' });
const count = Number(process.argv[2]);
for (let i = 0; i < count; i++) log.info({ i }, 'a line for the terminal');
process.exit(0);
