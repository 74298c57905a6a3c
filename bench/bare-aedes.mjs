// A bare Aedes broker, nothing else: the baseline the hub's broker overhead is measured against.
// Plain JavaScript on plain node, as the built hub runs. Its packet library's debug calls are
// silenced as in the hub (the built hub/broker/quiet-debug.ts), so the overhead measured is the
// hub's own, not logging the hub switched off.
import '../dist/hub/broker/quiet-debug.js';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
const server = createServer((socket) => broker.handle(socket));
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => broker.close(() => server.close(() => process.exit(0))));
