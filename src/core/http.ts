/**
 * One small HTTP(S) GET used by health probes and the edge bootstrap: TLS
 * options in, status and body bytes out, with a timeout. Kept tiny on purpose;
 * anything Kubernetes goes through @kubernetes/client-node instead.
 */
import http from 'node:http';
import { EdgemarkError } from './errors.js';
import https from 'node:https';

export interface GetOptions {
  ca?: string | Buffer;
  /** A prepared TLS context (its CA parsed once) instead of `ca`, for many requests to one server. */
  secureContext?: import('node:tls').SecureContext;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server against `ca` (or the system roots). */
  verify?: boolean;
  headers?: Record<string, string>;
  /** A request body (KubeEdge's certificate endpoint takes a GET with a body). */
  body?: Buffer;
  /** GET unless told (a runner pod's POST /link). */
  method?: 'GET' | 'POST';
  timeoutMs?: number;
}

export interface GetResult {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

export function httpGet(url: string, o: GetOptions = {}): Promise<GetResult> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: o.method ?? 'GET',
        headers: { ...(o.headers ?? {}), ...(o.body ? { 'content-length': String(o.body.length) } : {}) },
        ...(u.protocol === 'https:'
          ? {
              ...(o.secureContext ? { secureContext: o.secureContext } : { ca: o.ca, cert: o.cert, key: o.key }),
              rejectUnauthorized: o.verify ?? true,
              agent: false,
            }
          : { agent: false }),
        timeout: o.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${o.timeoutMs ?? 5000}ms: ${o.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Starts `server` on host:port; a port in use is EM_PORT_BUSY, in `prefix`'s words, with `fix`. */
export function listen(server: http.Server, host: string, port: number, prefix: string, fix: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new EdgemarkError('EM_PORT_BUSY', `[${prefix}] ${host}:${port} is already in use`, fix) : err),
    );
    server.listen(port, host, () => resolve());
  });
}
