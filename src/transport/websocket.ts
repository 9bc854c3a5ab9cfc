/**
 * The cloud-edge websocket: mutual TLS to CloudHub with the headers it needs
 * (`node_id`, `project_id`, `ConnectionUse: msg`; without the last one CloudHub
 * never reads the socket). This layer moves text frames only; it knows nothing
 * of beehive messages.
 */
import type { SecureContext } from 'node:tls';
import WebSocket from 'ws';

export const DEFAULT_PROJECT_ID = 'e632aba927ea4ac2b575ec1603d56f10';

export interface FrameSink {
  onOpen(): void;
  onFrame(text: string): void;
  onClose(reason: string): void;
}

export interface DialOptions {
  /** host:port of CloudHub's websocket server. */
  server: string;
  nodeName: string;
  projectId?: string;
  /** CA, client certificate and key of this node. */
  secureContext: SecureContext;
  /** Host name to verify the server certificate against (an IP SAN works). */
  servername?: string;
  handshakeTimeoutMs?: number;
  /** Source address to dial from (spreads connections over 127.0.0.0/8). */
  localAddress?: string;
}

export class EdgeSocket {
  private ws: WebSocket | undefined;
  private closed = false;

  constructor(private readonly sink: FrameSink) {}

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  dial(o: DialOptions): void {
    this.closed = false;
    const project = o.projectId ?? DEFAULT_PROJECT_ID;
    const ws = new WebSocket(`wss://${o.server}/${project}/${o.nodeName}/events`, {
      headers: { node_id: o.nodeName, project_id: project, ConnectionUse: 'msg' },
      secureContext: o.secureContext,
      ...(o.servername ? { servername: o.servername } : {}),
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      // CloudHub never enables permessage-deflate (../shared/docs/kubeedge-protocol.md),
      // and offering it would cost every node a zlib context and CPU per frame.
      perMessageDeflate: false,
      handshakeTimeout: o.handshakeTimeoutMs ?? 30_000,
      followRedirects: false,
      // A bound on the memory one incoming frame may take (ws's default is
      // 100 MiB). The largest answers a node gets (lists of its pods and their
      // objects) are far smaller, so a bigger frame is a fault, not data.
      maxPayload: 64 * 1024 * 1024,
    } as WebSocket.ClientOptions);
    this.ws = ws;
    ws.on('open', () => this.sink.onOpen());
    ws.on('message', (data, isBinary) => {
      // CloudHub writes text frames; a Go JSON decoder accepts binary too.
      this.sink.onFrame(isBinary ? (data as Buffer).toString('utf8') : String(data));
    });
    ws.on('error', (err: Error & { code?: string }) => this.finish(err.code ?? err.message));
    ws.on('close', (code, reason) => this.finish(`closed ${code}${reason.length ? ` ${reason.toString()}` : ''}`));
    ws.on('unexpected-response', (_req, res) => {
      this.finish(`handshake answered HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
  }

  send(text: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text);
    return true;
  }

  close(): void {
    const ws = this.ws;
    this.closed = true;
    this.ws = undefined;
    if (ws) ws.terminate();
  }

  private finish(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = undefined;
    ws.removeAllListeners();
    ws.on('error', () => undefined);
    ws.terminate();
    if (!this.closed) this.sink.onClose(reason);
  }
}
