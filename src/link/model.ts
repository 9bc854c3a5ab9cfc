/**
 * The in-process link model: one node's link to the cloud with a condition
 * laid on it (a partition, one way or both; latency with jitter; loss; a
 * bandwidth cap; flapping), at the frame seam of the node's transport. It
 * wraps the real link (the websocket): frames still go over a real
 * connection, only later, or not at all. Thousands of nodes each have their
 * own link state at little cost: no timer per node (the queues' heads ride on
 * the runner's one scheduler), one shared condition object per fault, and a
 * pass-through when no condition is laid on.
 *
 * What it models, at the level of frames over one TCP connection:
 * - latency (one way) plus uniform jitter, order kept (TCP reorders nothing);
 * - loss per packet (1448-byte segments), each lost one resent after a
 *   retransmission timeout (min 200 ms, or 2 RTT, doubling), as TCP recovers
 *   a lost segment: loss delays frames, it never drops them;
 * - a rate per direction: a frame leaves when the frames before it have, at
 *   bytes x 8 / rate;
 * - a partition: frames in a blocked direction are lost (a frame proxy that
 *   drops one direction while the connection stays up, as a broken middlebox
 *   or a half-dead mobile link does; a one-way cut of IP packets would stall
 *   TCP in both directions after its first window); a dial fails after the
 *   handshake timeout, as a lost SYN does; a close from the cloud during a
 *   cut of cloud-to-edge reaches the node when the cut heals (the FIN or RST
 *   gets through then), a close while edge-to-cloud is cut goes through;
 * - flapping: down (both ways cut) the first `downMs` of every `everyMs`.
 * A connection that opens pays three round trips (TCP, TLS 1.3, the upgrade).
 */
import type { Scheduler, TimerTarget } from '../core/scheduler.js';

/** What a fault lays on a node's link; shared by every node of the fault, never mutated. */
export interface LinkCondition {
  /** Frames lost: out = edge to cloud, in = cloud to edge, both. */
  block?: 'out' | 'in' | 'both';
  /** One-way delay, and uniform jitter around it (ms). */
  latencyMs?: number;
  jitterMs?: number;
  /** Probability that a packet is lost and resent (0 to 1). */
  loss?: number;
  /** Bits per second in each direction, per node. */
  rateBps?: number;
  /** Down (both ways cut) the first downMs of every everyMs, from `since`. */
  flap?: { downMs: number; everyMs: number };
  /** When the condition was laid on (the flap's phase). */
  since: number;
}

export interface DialLike {
  handshakeTimeoutMs?: number;
}

/** The link of the transport underneath: dial, send text, close; what arrives goes to its sink. */
export interface FrameLink<D extends DialLike> {
  dial(o: D): void;
  send(text: string): boolean;
  close(): void;
}

export interface FrameSink {
  onOpen(): void;
  onFrame(text: string): void;
  onClose(reason: string): void;
}

const SEGMENT = 1448;
const MIN_RTO_MS = 200;
const MAX_RESENDS = 12;
const HANDSHAKE_RTTS = 3;
const DEFAULT_HANDSHAKE_MS = 30_000;

const T = { out: 0, in: 1, dialFail: 2, open: 3 } as const;

/** Frames of one direction waiting for their time; `close` marks the connection's end in order. */
interface Queue {
  due: number[];
  frames: (string | { close: string })[];
  head: number;
}

const newQueue = (): Queue => ({ due: [], frames: [], head: 0 });

/** Counters of what the model did, for the runner's metrics. */
export interface LinkStats {
  framesDropped: number;
  framesDelayed: number;
  dialsFailed: number;
}

export function newLinkStats(): LinkStats {
  return { framesDropped: 0, framesDelayed: 0, dialsFailed: 0 };
}

export class ImpairedLink<D extends DialLike> implements FrameSink, TimerTarget {
  private readonly inner: FrameLink<D>;
  private cond: LinkCondition | undefined;
  private open = false;
  private out: Queue | undefined;
  private in: Queue | undefined;
  /** When each direction's last frame finished leaving (the rate), and arrives (the order). */
  private outFree = 0;
  private inFree = 0;
  private outLast = 0;
  private inLast = 0;
  /** A close from the cloud held back by a cut of cloud-to-edge. */
  private heldClose: string | undefined;
  private tokens = [0, 0, 0, 0];

  constructor(
    private readonly sink: FrameSink,
    makeInner: (sink: FrameSink) => FrameLink<D>,
    private readonly scheduler: Scheduler,
    private readonly random: () => number,
    private readonly stats: LinkStats,
  ) {
    this.inner = makeInner(this);
  }

  /** Lays a condition on the link, or lifts it (undefined). Frames already queued keep their times. */
  impair(c: LinkCondition | undefined): void {
    this.cond = c;
    if (this.heldClose !== undefined && !this.blocked('in', this.scheduler.now())) {
      const why = this.heldClose;
      this.heldClose = undefined;
      this.deliverClose(why);
    }
  }

  get condition(): LinkCondition | undefined {
    return this.cond;
  }

  private blocked(dir: 'out' | 'in', now: number): boolean {
    const c = this.cond;
    if (!c) return false;
    if (c.block === 'both' || c.block === dir) return true;
    if (c.flap) return (now - c.since) % c.flap.everyMs < c.flap.downMs;
    return false;
  }

  /** A dial: refused by a cut either way (after the handshake timeout), slowed by latency. */
  dial(o: D): void {
    const now = this.scheduler.now();
    this.open = false;
    if (this.blocked('out', now) || this.blocked('in', now)) {
      this.stats.dialsFailed++;
      this.scheduler.after(o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS, this, T.dialFail, ++this.tokens[T.dialFail]!);
      return;
    }
    this.inner.dial(o);
  }

  send(text: string): boolean {
    if (!this.open) return false;
    const c = this.cond;
    if (!c && !this.out) return this.inner.send(text);
    const now = this.scheduler.now();
    if (this.blocked('out', now)) {
      // Taken by the socket, lost on the way.
      this.stats.framesDropped++;
      return true;
    }
    const due = this.arrival('out', text.length, now);
    if (due <= now && !this.out) return this.inner.send(text);
    this.enqueue('out', due, text);
    return true;
  }

  close(): void {
    this.open = false;
    this.heldClose = undefined;
    this.out = undefined;
    this.in = undefined;
    for (let k = 0; k < this.tokens.length; k++) this.tokens[k]!++;
    this.inner.close();
  }

  // FrameSink of the real link.
  onOpen(): void {
    const c = this.cond;
    const rtt = c ? 2 * (c.latencyMs ?? 0) : 0;
    if (rtt <= 0) return this.opened();
    this.scheduler.after(HANDSHAKE_RTTS * rtt, this, T.open, ++this.tokens[T.open]!);
  }

  onFrame(text: string): void {
    const c = this.cond;
    if (!c && !this.in) return this.sink.onFrame(text);
    const now = this.scheduler.now();
    if (this.blocked('in', now)) {
      this.stats.framesDropped++;
      return;
    }
    const due = this.arrival('in', text.length, now);
    if (due <= now && !this.in) return this.sink.onFrame(text);
    this.enqueue('in', due, text);
  }

  onClose(reason: string): void {
    const now = this.scheduler.now();
    if (this.blocked('in', now) && this.cond?.block !== undefined) {
      // The FIN or RST of the cloud is lost while cloud-to-edge is cut: the node learns when it heals.
      this.heldClose = reason;
      return;
    }
    if (this.in) this.enqueue('in', Math.max(now, this.inLast), { close: reason });
    else this.deliverClose(reason);
  }

  onTimer(kind: number, token: number, now: number): void {
    if (token !== this.tokens[kind]) return;
    if (kind === T.dialFail) {
      this.sink.onClose('handshake timed out (the link is cut)');
    } else if (kind === T.open) {
      this.opened();
    } else {
      this.drain(kind === T.out ? 'out' : 'in', now);
    }
  }

  private opened(): void {
    this.open = true;
    this.sink.onOpen();
  }

  private deliverClose(reason: string): void {
    this.open = false;
    this.out = undefined;
    this.in = undefined;
    this.tokens[T.out]!++;
    this.tokens[T.in]!++;
    this.sink.onClose(reason);
  }

  /** When a frame of `bytes` sent now arrives: rate, latency, jitter and resends; never before the one before it. */
  private arrival(dir: 'out' | 'in', bytes: number, now: number): number {
    const c = this.cond;
    let t = now;
    if (c?.rateBps) {
      const free = dir === 'out' ? this.outFree : this.inFree;
      t = Math.max(now, free) + (bytes * 8 * 1000) / c.rateBps;
      if (dir === 'out') this.outFree = t;
      else this.inFree = t;
    }
    if (c) {
      const lat = c.latencyMs ?? 0;
      const jit = c.jitterMs ?? 0;
      const oneWay = Math.max(0, lat + (jit ? (2 * this.random() - 1) * jit : 0));
      t += oneWay;
      if (c.loss) t += this.resendDelay(bytes, lat, c.loss);
    }
    const last = dir === 'out' ? this.outLast : this.inLast;
    t = Math.max(t, last);
    if (dir === 'out') this.outLast = t;
    else this.inLast = t;
    return t;
  }

  /** The extra time TCP takes to resend the frame's lost segments (the slowest segment counts). */
  private resendDelay(bytes: number, latencyMs: number, loss: number): number {
    const segments = Math.min(64, Math.max(1, Math.ceil(bytes / SEGMENT)));
    const rto = Math.max(MIN_RTO_MS, 4 * latencyMs);
    let worst = 0;
    for (let s = 0; s < segments; s++) {
      let extra = 0;
      for (let k = 0; k < MAX_RESENDS && this.random() < loss; k++) extra += rto * 2 ** k;
      if (extra > worst) worst = extra;
    }
    return worst;
  }

  private enqueue(dir: 'out' | 'in', due: number, item: string | { close: string }): void {
    let q = dir === 'out' ? this.out : this.in;
    const first = !q || q.head === q.frames.length;
    if (!q) {
      q = newQueue();
      if (dir === 'out') this.out = q;
      else this.in = q;
    }
    q.due.push(due);
    q.frames.push(item);
    this.stats.framesDelayed++;
    if (first) this.arm(dir, q);
  }

  private arm(dir: 'out' | 'in', q: Queue): void {
    const kind = dir === 'out' ? T.out : T.in;
    this.scheduler.after(q.due[q.head]! - this.scheduler.now(), this, kind, ++this.tokens[kind]!);
  }

  private drain(dir: 'out' | 'in', now: number): void {
    const q = dir === 'out' ? this.out : this.in;
    if (!q) return;
    while (q.head < q.frames.length && q.due[q.head]! <= now) {
      const item = q.frames[q.head]!;
      q.head++;
      if (typeof item !== 'string') {
        this.deliverClose(item.close);
        return;
      }
      if (dir === 'out') this.inner.send(item);
      else this.sink.onFrame(item);
      // A handler may have closed the link (and dropped the queue).
      if ((dir === 'out' ? this.out : this.in) !== q) return;
    }
    if (q.head === q.frames.length) {
      // Empty: let the next frame take the pass-through when no condition remains.
      if (dir === 'out') this.out = undefined;
      else this.in = undefined;
      return;
    }
    if (q.head > 64 && q.head * 2 > q.frames.length) {
      q.frames = q.frames.slice(q.head);
      q.due = q.due.slice(q.head);
      q.head = 0;
    }
    this.arm(dir, q);
  }
}

/** A link fault as the runner carries it out: which nodes, for how long, and what happens to their links. */
export interface LinkFaultCommand {
  /** Names the fault in logs and counts. */
  id: string;
  /** The node groups it acts on; every group when absent. */
  groups?: string[];
  /** The first `first` nodes of each group, by index; all of them when absent. */
  first?: number;
  /** When the condition is lifted (ms from now); the runner lifts it itself. */
  durationMs: number;
  /** Lay this condition on their links... */
  condition?: Omit<LinkCondition, 'since'>;
  /** ...or drop their connections at once: they reconnect with their backoff, or with none (a thundering herd). */
  drop?: { backoff: boolean };
}

/** What a runner did with a link fault. */
export interface LinkFaultResult {
  /** Nodes it acted on. */
  affected: number;
  /** Nodes it targeted whose kind has no link to impair (kubelet nodes). */
  unsupported: number;
}

/** What several runner processes did with one link fault, added up (none: nothing reached). */
export function addLinkResults(list: LinkFaultResult[]): LinkFaultResult {
  return list.reduce((a, r) => ({ affected: a.affected + r.affected, unsupported: a.unsupported + r.unsupported }), { affected: 0, unsupported: 0 });
}

/**
 * When 99 % and all of `n` nodes were back, from the sorted times of those that
 * came back (nearest rank; the ones that never came back rank last, so p99
 * exists while they are at most the top 1 %).
 */
export function backWithin(sorted: number[], n: number): { p99Ms?: number; allMs?: number } {
  const p99 = Math.max(0, Math.ceil(0.99 * n) - 1);
  return {
    ...(n && p99 < sorted.length ? { p99Ms: sorted[p99]! } : {}),
    ...(n && sorted.length >= n ? { allMs: sorted.at(-1)! } : {}),
  };
}

/** A reconnect storm as a runner saw it: nodes dropped, how many came back, and when (ms after the drop) 99 % and all had. */
export interface StormFigures {
  nodes: number;
  back: number;
  p99Ms?: number;
  allMs?: number;
}
