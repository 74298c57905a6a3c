// A bare Aedes broker, nothing else: the baseline the hub's broker overhead is measured against.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
const server = createServer((socket) => broker.handle(socket));
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => broker.close(() => server.close(() => process.exit(0))));
