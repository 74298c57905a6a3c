// A small HTTP client for the InfluxDB API: node:http with kept-alive connections. The store
// writes a batch every few milliseconds under load, and fetch's stream machinery cost more CPU
// per request than the request itself.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export class HttpClient {
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  /** `base`: http(s)://host:port[/prefix]; paths are appended to it. */
  constructor(private readonly base: string) {
    const https = base.startsWith('https:');
    this.agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.request = https ? httpsRequest : httpRequest;
  }

  /** The whole answer, whatever its status; rejects on network failure or after `timeoutMs`. */
  send(method: string, path: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const req = this.request(
        `${this.base}${path}`,
        { method, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) }, agent: this.agent, signal: AbortSignal.timeout(timeoutMs) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
