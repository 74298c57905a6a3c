// `npm run floorwatch -- <command>`: the operator's command line. Each command is one file in this folder
// exporting a `Command`; adding one means adding it to COMMANDS.
import { ConfigError } from '../config/config.ts';

export interface Command {
  /** One line, shown in the command list. */
  summary: string;
  /** Usage text shown by `floorwatch help <command>`. */
  usage: string;
  run(args: string[]): Promise<number>;
}

// A Map: a command line such as `floorwatch constructor` must find no command.
const COMMANDS = new Map<string, () => Promise<Command>>([
  ['config', async () => (await import('./config.ts')).command],
  ['devices', async () => (await import('./devices.ts')).command],
  ['equipment-report', async () => (await import('./equipment-report.ts')).command],
  ['rules', async () => (await import('./rules.ts')).command],
  ['shift-report', async () => (await import('./shift-report.ts')).command],
  ['silences', async () => (await import('./silences.ts')).command],
  ['tokens', async () => (await import('./tokens.ts')).command],
  [
    'start',
    async () => ({
      summary: 'run the hub (same as npm start)',
      usage: 'floorwatch start',
      run: async () => {
        await import('../main.ts');
        return new Promise<number>(() => undefined);
      },
    }),
  ],
]);

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const target = args[0] !== undefined ? COMMANDS.get(args[0]) : undefined;
    if (target) {
      const command = await target();
      process.stdout.write(`${command.summary}\n\n${command.usage}\n`);
    } else {
      const summaries = await Promise.all(
        [...COMMANDS].map(async ([n, load]) => `  ${n.padEnd(12)} ${(await load()).summary}`),
      );
      process.stdout.write(`usage: floorwatch <command> [options]\n\ncommands:\n${summaries.sort().join('\n')}\n`);
    }
    return 0;
  }
  const load = COMMANDS.get(name);
  if (!load) {
    process.stderr.write(
      `floorwatch: unknown command "${name}" (known: ${[...COMMANDS.keys()].sort().join(', ')}; see: npm run floorwatch -- help)\n`,
    );
    return 2;
  }
  const command = await load();
  // `floorwatch <command> --help` as every command line tool answers it; after `--` it is an argument.
  const own = args.indexOf('--') === -1 ? args : args.slice(0, args.indexOf('--'));
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(`${command.summary}\n\n${command.usage}\n`);
    return 0;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `${err instanceof ConfigError ? err.message : `floorwatch: ${err instanceof Error ? err.message : String(err)}`}\n`,
    );
    process.exit(1);
  },
);
