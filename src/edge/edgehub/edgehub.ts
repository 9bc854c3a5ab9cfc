/**
 * edgehub: the node's link to CloudHub. Dials (mutual-TLS websocket), sends a
 * keepalive on connect and every heartbeat, routes what arrives (replies by
 * parent_msg_id to metamanager, pushes by group), and reconnects with
 * exponential backoff and jitter. Only this module touches the transport.
 */
import type { SecureContext } from 'node:tls';
import { decode, encode, keepalive, ProtocolError, type BeehiveMessage } from '../../protocol/message.js';
import { EdgeSocket } from '../../transport/websocket.js';
import type { LinkCondition } from '../../link/model.js';
import type { EdgeLink, FrameSink } from './link.js';
import { reconnectDelay } from '../timings.js';
import { Timer, type NodeHost } from '../host.js';

/** A node reconnecting without backoff tries again this often. */
export const HERD_RETRY_MS = 1000;

export type LinkState = 'idle' | 'dialing' | 'connected' | 'waiting';

export interface EdgeHubDeps {
  host: NodeHost;
  /** The node's TLS identity (CA, certificate, key); bootstraps on first use. */
  secureContext(): Promise<SecureContext>;
  onConnected(): void;
  onDisconnected(reason: string): void;
  onMessage(m: BeehiveMessage): void;
}

export class EdgeHub implements FrameSink {
  state: LinkState = 'idle';
  private readonly link: EdgeLink;
  private attempt = 0;
  private everConnected = false;
  connects = 0;
  private stopped = false;
  /** This node's dial is counted in the fleet's in-flight dials. */
  private dialCounted = false;
  /** Which CloudCore it dials: 0 the node's own, then its fallbacks in turn after each failed dial. */
  private server = 0;
  /** Reconnecting without backoff (a storm's thundering herd) until connected. */
  private herd = false;

  constructor(private readonly d: EdgeHubDeps) {
    const makeLink = d.host.ctx.link;
    this.link = makeLink ? makeLink(this) : new EdgeSocket(this);
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  start(): void {
    this.stopped = false;
    void this.dial();
  }

  stop(): void {
    this.endDial();
    this.stopped = true;
    this.d.host.cancel(Timer.keepalive);
    this.d.host.cancel(Timer.reconnect);
    this.link.close();
    this.state = 'idle';
  }

  /** Lays a link condition on, or lifts it; false when the link has no model (a test's link). */
  impair(c: LinkCondition | undefined): boolean {
    if (!this.link.impair) return false;
    this.link.impair(c);
    return true;
  }

  /**
   * The link breaks now (a storm's drop): the node is disconnected and
   * reconnects with its backoff, or at once (a thundering herd).
   */
  drop(backoff: boolean): void {
    if (this.stopped || this.state !== 'connected') return;
    this.link.close();
    this.d.host.cancel(Timer.keepalive);
    this.d.onDisconnected('link dropped');
    if (backoff) this.scheduleReconnect('link dropped');
    else {
      // No backoff until it is connected again: at once, then every second, no jitter.
      this.herd = true;
      this.state = 'waiting';
      void this.dial();
    }
  }

  /** Sends a message; false when not connected (callers treat it as failed). */
  send(m: BeehiveMessage): boolean {
    if (this.state !== 'connected') return false;
    const text = encode(m);
    const ok = this.link.send(text);
    // JSON of ASCII: its length is its bytes (a non-ASCII character counts once: close enough for traffic).
    if (ok) this.d.host.ctx.events.messageOut(m, text.length);
    return ok;
  }

  private async dial(): Promise<void> {
    if (this.stopped) return;
    this.state = 'dialing';
    this.dialCounted = true;
    this.d.host.ctx.events.dialing?.(1);
    let ctx: SecureContext;
    try {
      ctx = await this.d.secureContext();
    } catch (err) {
      if (this.stopped) return;
      this.endDial();
      this.d.host.ctx.events.error(this.d.host, 'bootstrap', err);
      if (this.d.host.ctx.isFatal(err)) return this.stop();
      return this.scheduleReconnect('bootstrap failed');
    }
    if (this.stopped) return; // stop() ended the dial
    const f = this.d.host.ctx;
    const to = this.server === 0 ? f.dial : f.dial.fallbacks![this.server - 1]!;
    this.link.dial({
      server: to.server,
      nodeName: this.d.host.name,
      secureContext: ctx,
      ...(to.servername ? { servername: to.servername } : {}),
      ...(f.dial.projectId ? { projectId: f.dial.projectId } : {}),
      ...(this.d.host.localAddress ? { localAddress: this.d.host.localAddress } : {}),
    });
  }

  /** The dial in progress ends (opened, closed, failed or stopped). */
  private endDial(): void {
    if (!this.dialCounted) return;
    this.dialCounted = false;
    this.d.host.ctx.events.dialing?.(-1);
  }

  onOpen(): void {
    this.endDial();
    this.state = 'connected';
    this.attempt = 0;
    this.herd = false;
    this.connects++;
    if (this.everConnected) this.d.host.ctx.events.reconnected(this.d.host);
    else this.d.host.ctx.events.firstConnect?.(this.d.host);
    this.everConnected = true;
    this.sendKeepalive();
    this.d.onConnected();
  }

  onFrame(text: string): void {
    this.d.host.ctx.events.frameIn?.(text);
    let m: BeehiveMessage;
    try {
      m = decode(text);
    } catch (err) {
      this.d.host.ctx.events.error(this.d.host, 'decode', err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return;
    }
    this.d.host.ctx.events.messageIn(m, text.length);
    try {
      this.d.onMessage(m);
    } catch (err) {
      // An object the node cannot take (a field of the wrong type, nested past the stack): refused and counted, the node goes on.
      this.d.host.ctx.events.error(this.d.host, 'push', err);
    }
  }

  onClose(reason: string): void {
    const wasConnected = this.state === 'connected';
    this.endDial();
    this.d.host.cancel(Timer.keepalive);
    if (wasConnected) this.d.onDisconnected(reason);
    else {
      this.d.host.ctx.events.error(this.d.host, 'connect', new Error(reason));
      // A dial that failed: the next goes to the next CloudCore, if there are several.
      this.server = (this.server + 1) % (1 + (this.d.host.ctx.dial.fallbacks?.length ?? 0));
    }
    if (!this.stopped) this.scheduleReconnect(reason);
  }

  onKeepaliveTimer(): void {
    if (this.state === 'connected') this.sendKeepalive();
  }

  onReconnectTimer(): void {
    if (this.state === 'waiting') void this.dial();
  }

  private sendKeepalive(): void {
    this.send(keepalive(this.d.host.ctx.scheduler.now()));
    this.d.host.schedule(Timer.keepalive, this.d.host.ctx.timings.keepaliveMs);
  }

  private scheduleReconnect(_reason: string): void {
    this.state = 'waiting';
    const f = this.d.host.ctx;
    this.d.host.schedule(Timer.reconnect, this.herd ? HERD_RETRY_MS : reconnectDelay(f.timings, this.attempt++, f.random));
  }
}
