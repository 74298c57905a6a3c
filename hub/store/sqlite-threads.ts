// The SQLite store's reads and writes, made in threads of their own. better-sqlite3 answers
// synchronously: a chart of a zone's weeks reads millions of rows, and a write batch, a roll-up
// or a checkpoint's fsync on a slow disk takes as long as the disk does; on the hub's thread each
// held MQTT acknowledgements and the rules. WAL lets read-only connections read while one writes.
// Each thread answers its requests one at a time, in order, each on the hub's clock as it was
// when asked. A read goes to a thread with nothing to answer, started if need be, so a long read
// holds up only what is asked of its own thread while all are busy; writes go to one thread, in
// the order they were asked.
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { within } from '../domain/deadline.ts';
import { StoreBusy, StoreRefusal, StoreUnavailable } from './store.ts';
import type { SqliteStore } from './sqlite.ts';

export type ReadMethod = 'query' | 'queryMinutes' | 'count' | 'queryAlertEvents';
type WriteMethod = 'write' | 'rollUp' | 'writeAlertEvents' | 'pruneStep';

interface ThreadOptions {
  path: string;
  rawRetentionMs: number;
  longTermRetentionMs: number;
  /** Readers open the file read-only, any number of them; the writer is one thread. */
  role: 'reader' | 'writer';
}

interface Request {
  id: number;
  method: ReadMethod | WriteMethod;
  arg: unknown;
  now: number;
}

type Answer = { id: number; result: unknown } | { id: number; error: { name: string; message: string } };

/** The classes a caller tells apart, made again from the name an answer carries across the thread. */
function errorOf({ name, message }: { name: string; message: string }): Error {
  if (name === 'StoreUnavailable') return new StoreUnavailable(message);
  if (name === 'StoreRefusal') return new StoreRefusal(message);
  return new Error(message);
}

interface Call {
  at: number;
  answer: Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  /**
   * Its requests not yet answered, in the order asked, each with when it was asked (`elapsed`):
   * a thread that dies fails these, and only these.
   */
  waiting: Map<number, Call>;
}

/**
 * After a thread died, reads are refused this long before another is started: starting one loads
 * the TypeScript loader again, and a file that cannot be read would have each request pay that.
 */
export const RESTART_AFTER_MS = 5000;

/** Reads waiting for the threads at most, unless configured: past it a read is refused at once rather than queued. */
export const DEFAULT_MAX_WAITING = 64;

/** Threads answering reads at most, unless configured. */
const DEFAULT_READ_THREADS = 2;

/**
 * The writer's bound: its callers bound themselves (the store writer has one batch out at a
 * time, the alert history comes from the outbox), so nothing waits on this.
 */
export const WRITER: ReadBound = { maxWaiting: Number.POSITIVE_INFINITY, threads: 1 };

/** The longest close() waits for writes under way before it stops the writer anyway. */
const CLOSE_WAIT_MS = 5000;

export interface ReadBound {
  /** Reads waiting for the threads at most, those being answered included (storage.max_waiting_reads). */
  maxWaiting: number;
  /** Threads answering reads at most (storage.read_threads); each is started when first needed. */
  threads?: number;
  /** Told of each read refused for the bound, to count and log it. */
  onBusy?: (maxWaiting: number) => void;
}

export class SqliteThreads {
  private threads: Thread[] = [];
  private nextId = 1;
  private closed = false;
  /** When the last request was asked (`elapsed`), and why the last thread stopped, and when. */
  private askedAt = 0;
  private stopped: { at: number; why: string } | undefined;

  constructor(
    private readonly options: ThreadOptions,
    private readonly bound: ReadBound = { maxWaiting: DEFAULT_MAX_WAITING },
    /** Time that only goes forward, in ms: a wall clock set back must not keep a thread from starting again. */
    private readonly elapsed: () => number = () => performance.now(),
  ) {}

  ask<M extends ReadMethod | WriteMethod>(
    method: M,
    arg: Parameters<SqliteStore[M]>[0],
    now: number,
  ): ReturnType<SqliteStore[M]> {
    // A request that arrives as the hub stops starts no thread again.
    if (this.closed) return Promise.reject(new StoreUnavailable('the store is closed')) as ReturnType<SqliteStore[M]>;
    const { maxWaiting, onBusy } = this.bound;
    let waiting = 0;
    for (const t of this.threads) waiting += t.waiting.size;
    if (waiting >= maxWaiting) {
      onBusy?.(maxWaiting);
      return Promise.reject(
        new StoreBusy(
          `${maxWaiting} reads already wait for the SQLite readers (storage.max_waiting_reads); try again shortly`,
        ),
      ) as ReturnType<SqliteStore[M]>;
    }
    const at = this.elapsed();
    const id = this.nextId++;
    let thread: Thread | { stopped: string };
    try {
      thread = this.pick(at);
    } catch (err) {
      // No thread could be started (the process at its limit of threads): as one that stopped.
      this.stopped = { at, why: `it could not be started (${(err as Error).message})` };
      thread = { stopped: this.stopped.why };
    }
    if ('stopped' in thread)
      return Promise.reject(
        new StoreUnavailable(
          `the SQLite ${this.options.role} stopped: ${thread.stopped}; it is started again within 5 s`,
        ),
      ) as ReturnType<SqliteStore[M]>;
    this.askedAt = at;
    try {
      // Posted before it waits: an argument that cannot be copied to the thread is refused as the
      // fault in the data it is, and nothing waits for its answer.
      thread.worker.postMessage({ id, method, arg, now } satisfies Request);
    } catch (err) {
      return Promise.reject(
        new Error(`the SQLite ${this.options.role} could not be asked: ${(err as Error).message}`),
      ) as ReturnType<SqliteStore[M]>;
    }
    let settle!: Pick<Call, 'resolve' | 'reject'>;
    const answer = new Promise<unknown>((resolve, reject) => (settle = { resolve, reject }));
    thread.waiting.set(id, { at, answer, ...settle });
    return answer as ReturnType<SqliteStore[M]>;
  }

  /** Reads under way are dropped; writes under way are waited for, up to CLOSE_WAIT_MS. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads;
    this.threads = [];
    if (this.options.role === 'writer') {
      const underway = threads.flatMap((t) => [...t.waiting.values()].map((call) => call.answer));
      await within(Promise.allSettled(underway), CLOSE_WAIT_MS);
    }
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /**
   * A thread with nothing to answer; else a new one, while there may be more; else the one with
   * least to answer, and of those the one whose oldest read was asked last (one long at a chart
   * holds what is queued behind it). None is started within RESTART_AFTER_MS of one that died:
   * with none left, why it stopped.
   */
  private pick(now: number): Thread | { stopped: string } {
    const since = (t: Thread) => t.waiting.values().next().value?.at ?? now;
    let least: Thread | undefined;
    for (const t of this.threads)
      if (
        !least ||
        t.waiting.size < least.waiting.size ||
        (t.waiting.size === least.waiting.size && since(t) > since(least))
      )
        least = t;
    if (least?.waiting.size === 0) return least;
    const { stopped } = this;
    if (stopped && now - stopped.at < RESTART_AFTER_MS) return least ?? { stopped: stopped.why };
    return least && this.threads.length >= (this.bound.threads ?? DEFAULT_READ_THREADS) ? least : this.start();
  }

  /** A thread, started when needed (after the store made its tables) and again after one that died. */
  private start(): Thread {
    // Built, the thread runs this file as it is. From source it loads TypeScript as the hub does
    // (a worker does not inherit the hub's loader), which costs a thread and tens of MB more.
    // Both are found from here, not from the directory the hub was started in.
    const options = { workerData: { sqliteThread: this.options } };
    let worker: Worker;
    if (import.meta.url.endsWith('.ts')) {
      const [entry, loader] = [import.meta.url, import.meta.resolve('tsx/esm/api')].map((url) => JSON.stringify(url));
      worker = new Worker(`import(${loader}).then((tsx) => { tsx.register(); return import(${entry}); })`, {
        eval: true,
        ...options,
      });
    } else worker = new Worker(new URL(import.meta.url), options);
    worker.unref();
    const thread: Thread = { worker, waiting: new Map() };
    worker.on('message', (answer: Answer) => {
      const call = thread.waiting.get(answer.id);
      if (!call) return;
      thread.waiting.delete(answer.id);
      if ('error' in answer) call.reject(errorOf(answer.error));
      else call.resolve(answer.result);
    });
    const failed = (why: string) => {
      const at = this.threads.indexOf(thread);
      if (at >= 0) {
        this.threads.splice(at, 1);
        this.stopped = { at: this.askedAt, why };
      }
      for (const call of thread.waiting.values())
        call.reject(new StoreUnavailable(`the SQLite ${this.options.role} stopped: ${why}`));
      thread.waiting.clear();
    };
    worker.on('error', (err) => failed(err.message));
    worker.on('exit', (code) => failed(`exit code ${code}`));
    this.threads.push(thread);
    return thread;
  }
}

/**
 * In the thread: a store of the same file, read-only for a reader, answers each request in turn.
 * A writer that cannot set its statements up stops, and its callers are told why.
 */
async function serve({ role, ...options }: ThreadOptions): Promise<void> {
  const { SqliteStore } = await import('./sqlite.ts');
  let now = 0;
  const store = new SqliteStore({
    ...options,
    now: () => now,
    readOnly: role === 'reader',
    inWriteThread: role === 'writer',
  });
  // Requests posted meanwhile wait in the port until the listener below is added.
  if (role === 'writer') await store.init();
  let turn = Promise.resolve();
  parentPort?.on('message', (request: Request) => {
    turn = turn.then(async () => {
      now = request.now;
      let answer: Answer;
      try {
        answer = {
          id: request.id,
          result: await (store[request.method] as (arg: unknown) => Promise<unknown>)(request.arg),
        };
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        answer = { id: request.id, error: { name: e.name, message: e.message } };
      }
      parentPort?.postMessage(answer);
    });
  });
}

const threadOptions = (workerData as { sqliteThread?: ThreadOptions } | null)?.sqliteThread;
if (parentPort && threadOptions) void serve(threadOptions);
