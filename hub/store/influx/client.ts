// Talking to InfluxDB over its 1.x HTTP API (/write, /query, /ping), which InfluxDB 1.8, 2.x (v1
// compatibility) and 3.x Core also serve, and saying what each failure means, in the way
// Telegraf's InfluxDB output reads them: the server's state (StoreUnavailable: retry) or a
// refusal of the points themselves (StoreRefusal: retrying cannot help), always with the
// database's own words.
//
// node:http with kept-alive connections: the store writes a batch every few milliseconds under
// load, and fetch's stream machinery cost more CPU per request than the request itself.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { StoreRefusal, StoreUnavailable } from '../store.ts';
import { parseAnswer, type InfluxResult, type Statement } from './influxql.ts';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** InfluxDB refused a query (InfluxQL it cannot run, a name it does not know), in its own words. */
export class InfluxError extends Error {
  override readonly name = 'InfluxError';
}

/**
 * The database, or the retention policy written to, is missing (never created, or dropped since):
 * unavailable until it is created again.
 */
export class SchemaMissing extends StoreUnavailable {}

export interface InfluxTarget {
  /** http(s)://host:port[/prefix], without the database. */
  base: string;
  database: string;
  /** The Authorization header for the URL's user and password, if it names them. */
  authorization?: string;
}

const DATABASE_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
/** InfluxDB's count of the points of a partial write it dropped. */
const DROPPED = /\bdropped=(\d+)\s*$/;

/** http(s)://[user:pass@]host:port[/prefix]/database, checked: the database is put in InfluxQL. */
export function parseInfluxUrl(url: string): InfluxTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('InfluxDB url is not a URL (expected http://host:port/database)');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error(`InfluxDB url must be http or https, not ${u.protocol}`);
  const segments = u.pathname.split('/').filter((s) => s !== '');
  const database = decodeURIComponent(segments.pop() ?? '');
  if (!DATABASE_PATTERN.test(database)) {
    throw new Error(
      `InfluxDB database name ${JSON.stringify(database)} is not allowed: use 1-64 letters, digits or '_' ` +
        `(it is the last path segment of the url, e.g. http://host:8086/floorwatch)`,
    );
  }
  const target: InfluxTarget = {
    base: `${u.protocol}//${u.host}${segments.length > 0 ? `/${segments.join('/')}` : ''}`,
    database,
  };
  if (u.username !== '') {
    target.authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  }
  return target;
}

/** InfluxDB's own message: the `error` of its JSON answer, else the text (a proxy's page, say), cut short. */
export function errorMessage(res: Pick<HttpAnswer, 'status' | 'body'>): string {
  try {
    const parsed = JSON.parse(res.body) as { error?: unknown } | null;
    if (typeof parsed?.error === 'string') return parsed.error;
  } catch {
    // not JSON
  }
  return res.body.trim().slice(0, 500) || `HTTP ${res.status}`;
}

/**
 * What a write answered with anything but 204 No Content means: a 400 (a field type conflict, a
 * series limit, points beyond the retention policy, a line it cannot parse) and other 4xx refuse
 * those points for good; a 5xx, a timeout, refused credentials or a missing database are the
 * server's state, worth a retry. So is any other answer: InfluxDB (1.x, and 2.x and 3.x on this
 * API) stores a write only when it answers 204, and a 200 comes from something else in its place
 * (a proxy's page), which stored nothing.
 */
export function writeFailure(res: Pick<HttpAnswer, 'status' | 'body'>): StoreRefusal | StoreUnavailable {
  const message = errorMessage(res);
  const text = `InfluxDB write failed (${res.status}): ${message}`;
  if (res.status < 400)
    return new StoreUnavailable(
      `${text}: InfluxDB answers a write it stored with 204, so something else answered in its place (a proxy, a redirect)`,
    );
  if (res.status === 404 && /database not found/.test(message)) return new SchemaMissing(text);
  // InfluxDB 1.x answers a write to a policy it does not know with a 500, as it does a failure of its own.
  if (res.status === 500 && /retention policy not found/.test(message)) return new SchemaMissing(text);
  if (res.status === 401 || res.status === 403)
    return new StoreUnavailable(
      `${text}: InfluxDB refuses the hub's credentials (check the user and password in the InfluxDB url)`,
    );
  if (res.status >= 500 || res.status === 408 || res.status === 429) return new StoreUnavailable(text);
  const dropped = DROPPED.exec(message);
  return new StoreRefusal(text, dropped ? Number(dropped[1]) : undefined);
}

const ok = (res: HttpAnswer): boolean => res.status >= 200 && res.status < 300;

/** Well above a chart's largest answer (the readings API's 100,000 points). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
/** A write or a ping answers with a few words: several in flight must not hold a query's worth each. */
const SHORT_ANSWER_BYTES = 1024 * 1024;

export class InfluxClient {
  readonly base: string;
  readonly database: string;
  private readonly authorization: string | undefined;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(
    target: InfluxTarget,
    /** Per-request timeout. */
    private readonly timeoutMs: number,
    /**
     * The largest answer to a query read: a wrong service at the URL (a proxy's page, something
     * that streams) must not be held whole in memory. Writes and pings read at most 1 MiB.
     */
    private readonly maxAnswerBytes = MAX_ANSWER_BYTES,
  ) {
    this.base = target.base;
    this.database = target.database;
    this.authorization = target.authorization;
    const https = target.base.startsWith('https:');
    this.agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.request = https ? httpsRequest : httpRequest;
  }

  /** Line-protocol text into a policy, ms precision. Rejects with writeFailure's classes. */
  async write(body: string, policy: string): Promise<void> {
    const query = new URLSearchParams({ db: this.database, rp: policy, precision: 'ms' });
    const res = await this.send('POST', `/write?${query.toString()}`, {
      body,
      contentType: 'text/plain; charset=utf-8',
      maxBytes: SHORT_ANSWER_BYTES,
    });
    if (res.status !== 204) throw writeFailure(res);
  }

  /** One InfluxQL statement, its values bound; the results, or InfluxError in InfluxDB's words. */
  async query(statement: Statement | string): Promise<InfluxResult[]> {
    const { q, params } = typeof statement === 'string' ? { q: statement, params: {} } : statement;
    const form = new URLSearchParams({ q, db: this.database, epoch: 'ms' });
    if (Object.keys(params).length > 0) form.set('params', JSON.stringify(params));
    const res = await this.send('POST', '/query', {
      body: form.toString(),
      contentType: 'application/x-www-form-urlencoded',
    });
    if (res.status >= 500) throw new StoreUnavailable(`InfluxDB query failed (${res.status}): ${errorMessage(res)}`);
    if (!ok(res)) throw new InfluxError(`InfluxDB query failed (${res.status}): ${errorMessage(res)}`);
    const answer = parseAnswer(res.body);
    if (!answer.ok) throw new InfluxError(`InfluxDB query failed: ${answer.error}`);
    return answer.results;
  }

  /**
   * /ping: InfluxDB's version when it answers as InfluxDB does (1.x and 2.x with 204, 3.x with 200
   * and its version header), else its status.
   */
  async ping(timeoutMs: number): Promise<{ up: true; version: string } | { up: false; status: number }> {
    const res = await this.send('GET', '/ping', { timeoutMs, maxBytes: SHORT_ANSWER_BYTES });
    const version = res.headers['x-influxdb-version'];
    const named = typeof version === 'string';
    if (res.status !== 204 && !(res.status === 200 && named)) return { up: false, status: res.status };
    return { up: true, version: named ? version : 'unknown version' };
  }

  close(): void {
    this.agent.destroy();
  }

  /** The whole answer, whatever its status; StoreUnavailable on a network failure or a timeout. */
  private async send(
    method: string,
    path: string,
    {
      body,
      contentType,
      timeoutMs = this.timeoutMs,
      maxBytes = this.maxAnswerBytes,
    }: { body?: string; contentType?: string; timeoutMs?: number; maxBytes?: number } = {},
  ): Promise<HttpAnswer> {
    const headers: Record<string, string | number> = {};
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (this.authorization !== undefined) headers['authorization'] = this.authorization;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    try {
      return await new Promise<HttpAnswer>((resolve, reject) => {
        const req = this.request(
          `${this.base}${path}`,
          { method, headers, agent: this.agent, signal: AbortSignal.timeout(timeoutMs) },
          (res) => {
            const chunks: Buffer[] = [];
            let bytes = 0;
            res.on('data', (chunk: Buffer) => {
              bytes += chunk.length;
              if (bytes <= maxBytes) chunks.push(chunk);
              else req.destroy(new Error(`its answer is over ${maxBytes} bytes, more than InfluxDB sends`));
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    } catch (err) {
      const what = `${method} ${this.base}${path.split('?')[0]}`;
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
        throw new StoreUnavailable(`InfluxDB ${what} timed out after ${timeoutMs} ms`);
      }
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new StoreUnavailable(
        `InfluxDB ${what} failed: ${err instanceof Error ? err.message : String(err)}${cause}`,
      );
    }
  }
}
