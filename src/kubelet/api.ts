/**
 * One hollow kubelet's connection to kube-apiserver: one HTTP/2 session (one
 * TLS connection) carrying its requests and its watches as streams, as
 * client-go's transport does for a real kubelet. Nothing is shared between
 * nodes but the process: per-node connections and identities are what put a
 * real kubelet fleet's load on the apiserver (its Node authorizer, its
 * connection and watch bookkeeping).
 *
 * Requests and watches are plain HTTP/2 streams with JSON bodies; a watch is
 * newline-delimited JSON events. The session is opened on first use and again
 * after it broke; a request on a broken session fails with `status: 0`, and
 * every open watch ends with an error, so their owners retry on their own
 * schedule (the node's timers), not here.
 */
import http2 from 'node:http2';
import type { SecureContext } from 'node:tls';

export interface ApiResponse {
  /** HTTP status; 0 when no answer came (connection broken, timed out). */
  status: number;
  body: string;
  /** Why no answer came, when status is 0. */
  error?: string;
}

/** A Kubernetes Status as far as a node reads one. */
export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
}

export function statusOf(r: ApiResponse): ApiStatus {
  if (r.status === 0) return { code: 0, reason: 'NoAnswer', message: r.error ?? 'no answer' };
  try {
    const s = JSON.parse(r.body) as ApiStatus & { kind?: string };
    return { code: r.status, ...(s.reason ? { reason: s.reason } : {}), ...(s.message ? { message: s.message } : {}) };
  } catch {
    return { code: r.status, message: r.body.slice(0, 200) };
  }
}

export interface ConnectionOptions {
  /** https://host:port of kube-apiserver. */
  url: string;
  /** The node's TLS identity (client certificate) or, for a bootstrap connection, just the CA. */
  secureContext: SecureContext;
  servername?: string;
  /** Bearer token (the bootstrap token); never logged. */
  bearer?: string;
  localAddress?: string;
  userAgent: string;
  /** One request went out: its verb and resource (`PUT leases`, `WATCH pods`). */
  onRequest?(verb: string, resource: string): void;
  /** One watch event came in. */
  onEvent?(type: string, resource: string): void;
  /** The session broke (GOAWAY, reset, TLS error): the owner's watches are ending. */
  onBroken?(why: string): void;
}

export interface WatchHandlers {
  onEvent(type: string, object: unknown): void;
  /** The watch ended: the server closed it (timeout), or it failed (`status` and `error`). */
  onEnd(status: number, error?: string): void;
}

export interface WatchHandle {
  close(): void;
}

const {
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_ACCEPT,
  HTTP2_HEADER_USER_AGENT,
  HTTP2_HEADER_AUTHORIZATION,
} = http2.constants;

/** The resource of an API path, as the apiserver's metrics name it: `pods`, `nodes/status`, `leases`. */
export function resourceOf(path: string): string {
  const p = path.split('?')[0]!.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let i = p[0] === 'api' ? 2 : 3;
  if (p[i] === 'namespaces' && p.length > i + 2) i += 2;
  const resource = p[i] ?? '';
  const sub = p[i + 2];
  return sub ? `${resource}/${sub}` : resource;
}

export class ApiConnection {
  private session: http2.ClientHttp2Session | undefined;
  private readonly watches = new Set<http2.ClientHttp2Stream>();
  private closed = false;
  /** Sessions opened so far (1 = never reconnected). */
  sessions = 0;

  constructor(private readonly o: ConnectionOptions) {}

  private get live(): http2.ClientHttp2Session {
    if (this.session && !this.session.destroyed && !this.session.closed) return this.session;
    this.sessions++;
    const s = http2.connect(this.o.url, {
      secureContext: this.o.secureContext,
      ...(this.o.servername ? { servername: this.o.servername } : {}),
      ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
      // A node's streams carry small bodies: a small window keeps the session's buffers small.
      settings: { enablePush: false, initialWindowSize: 256 * 1024 },
      maxSessionMemory: 4,
    });
    s.on('error', (err) => this.broken(s, err.message));
    // A GOAWAY ends the session gracefully: streams in flight still get their answers (an
    // apiserver answers 401 and then says GOAWAY), new ones go to a new session.
    s.on('goaway', () => this.broken(s, 'GOAWAY from the apiserver', true));
    s.on('close', () => this.broken(s, 'connection closed'));
    // No watch or request: the session must not keep the process alive.
    s.unref();
    this.session = s;
    return s;
  }

  private broken(s: http2.ClientHttp2Session, why: string, graceful = false): void {
    if (this.session !== s) return;
    this.session = undefined;
    if (graceful) {
      if (!s.closed) s.close();
    } else if (!s.destroyed) s.destroy();
    if (!this.closed) this.o.onBroken?.(why);
  }

  private headers(method: string, path: string, contentType?: string): http2.OutgoingHttpHeaders {
    return {
      [HTTP2_HEADER_METHOD]: method,
      [HTTP2_HEADER_PATH]: path,
      [HTTP2_HEADER_ACCEPT]: 'application/json',
      [HTTP2_HEADER_USER_AGENT]: this.o.userAgent,
      ...(contentType ? { [HTTP2_HEADER_CONTENT_TYPE]: contentType } : {}),
      ...(this.o.bearer ? { [HTTP2_HEADER_AUTHORIZATION]: `Bearer ${this.o.bearer}` } : {}),
    };
  }

  /** One request; resolves with status 0 (never rejects) when no answer came in `timeoutMs`. */
  request(method: string, path: string, body?: string, contentType = 'application/json', timeoutMs = 30_000): Promise<ApiResponse> {
    if (this.closed) return Promise.resolve({ status: 0, body: '', error: 'connection closed' });
    this.o.onRequest?.(method, resourceOf(path));
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.live.request(this.headers(method, path, body !== undefined ? contentType : undefined), { endStream: body === undefined });
      } catch (err) {
        resolve({ status: 0, body: '', error: (err as Error).message });
        return;
      }
      let status = 0;
      const chunks: Buffer[] = [];
      let done = false;
      const finish = (r: ApiResponse) => {
        if (done) return;
        done = true;
        resolve(r);
      };
      stream.setTimeout(timeoutMs, () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish({ status: 0, body: '', error: `no answer in ${timeoutMs} ms` });
      });
      stream.on('response', (h) => {
        status = Number(h[HTTP2_HEADER_STATUS]);
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => finish({ status, body: Buffer.concat(chunks).toString('utf8') }));
      stream.on('error', (err) => finish({ status: 0, body: '', error: err.message }));
      stream.on('close', () => finish({ status, body: Buffer.concat(chunks).toString('utf8'), ...(status ? {} : { error: 'stream closed' }) }));
      if (body !== undefined) stream.end(body);
    });
  }

  /** A watch (`path` carries `watch=true`): each event as it comes, then its end. */
  watch(path: string, h: WatchHandlers): WatchHandle {
    const resource = resourceOf(path);
    this.o.onRequest?.('WATCH', resource);
    let stream: http2.ClientHttp2Stream;
    let ended = false;
    const end = (status: number, error?: string) => {
      if (ended) return;
      ended = true;
      this.watches.delete(stream);
      h.onEnd(status, error);
    };
    try {
      stream = this.live.request(this.headers('GET', path));
    } catch (err) {
      queueMicrotask(() => h.onEnd(0, (err as Error).message));
      return { close: () => undefined };
    }
    this.watches.add(stream);
    let status = 0;
    let rest = '';
    let errorBody = '';
    stream.setEncoding('utf8');
    stream.on('response', (hd) => {
      status = Number(hd[HTTP2_HEADER_STATUS]);
    });
    stream.on('data', (chunk: string) => {
      if (status !== 200) {
        errorBody += chunk;
        return;
      }
      let text = rest + chunk;
      let nl = text.indexOf('\n');
      while (nl >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        nl = text.indexOf('\n');
        if (!line) continue;
        let ev: { type?: string; object?: unknown };
        try {
          ev = JSON.parse(line) as { type?: string; object?: unknown };
        } catch {
          continue;
        }
        this.o.onEvent?.(ev.type ?? '', resource);
        if (!ended) h.onEvent(ev.type ?? '', ev.object);
      }
      rest = text;
    });
    stream.on('end', () => end(status, status === 200 ? undefined : errorBody.slice(0, 300)));
    stream.on('error', (err) => end(0, err.message));
    stream.on('close', () => end(status === 200 ? 200 : status, status === 200 ? undefined : errorBody.slice(0, 300) || 'stream closed'));
    return {
      close: () => {
        ended = true;
        this.watches.delete(stream);
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  /** Open streams that are watches. */
  get watchCount(): number {
    return this.watches.size;
  }

  close(): void {
    this.closed = true;
    for (const w of this.watches) if (!w.closed) w.close(http2.constants.NGHTTP2_CANCEL);
    this.watches.clear();
    const s = this.session;
    this.session = undefined;
    if (s && !s.destroyed) s.destroy();
  }
}
