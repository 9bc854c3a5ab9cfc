/**
 * One scheduler drives the timers of every hollow node: a binary min-heap of
 * (due time, target, kind, token) with a single armed setTimeout for the
 * earliest entry. No per-node intervals or closures: a node is a TimerTarget
 * and tells its timers apart by a small integer kind.
 *
 * Cancellation is lazy: a target bumps its token for a kind, and entries with
 * an older token are dropped when they come due (the target checks).
 *
 * A target that throws does not stop the others: the scheduler counts the
 * failure and hands it to `onError` (by default one line on stderr for each
 * kind of target and timer, so a bug in 10,000 nodes prints once, not 10,000
 * times).
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TimerTarget {
  onTimer(kind: number, token: number, now: number): void;
}

/** Called when a target's onTimer throws; the scheduler goes on either way. */
export type TimerErrorHandler = (err: unknown, target: TimerTarget, kind: number) => void;

export interface SchedulerOptions {
  onError?: TimerErrorHandler;
}

/** The default handler: console.error once per (target class, timer kind). */
export function logFirstTimerError(): TimerErrorHandler {
  const seen = new Set<string>();
  return (err, target, kind) => {
    const key = `${target.constructor?.name ?? 'target'}/${kind}`;
    if (seen.has(key)) return;
    seen.add(key);
    const why = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`[scheduler] timer kind ${kind} of ${key.split('/')[0]} threw (further failures of this kind are only counted): ${why}`);
  };
}

interface Entry {
  due: number;
  seq: number;
  target: TimerTarget;
  kind: number;
  token: number;
}

export class Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private armed: unknown;
  private armedFor = Infinity;
  private running = true;
  /** Entries fired. */
  fired = 0;
  /** Targets' onTimer calls that threw. */
  errors = 0;
  private readonly onError: TimerErrorHandler;

  constructor(
    private readonly clock: Clock = systemClock,
    options: SchedulerOptions = {},
  ) {
    this.onError = options.onError ?? logFirstTimerError();
  }

  get size(): number {
    return this.heap.length;
  }

  now(): number {
    return this.clock.now();
  }

  /** Runs `target.onTimer(kind, token)` after `delayMs`. */
  after(delayMs: number, target: TimerTarget, kind: number, token = 0): void {
    this.push({ due: this.clock.now() + Math.max(0, delayMs), seq: this.seq++, target, kind, token });
  }

  stop(): void {
    this.running = false;
    if (this.armed !== undefined) this.clock.clearTimeout(this.armed);
    this.armed = undefined;
    this.heap.length = 0;
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
    if (e.due < this.armedFor) this.arm();
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  private arm(): void {
    if (!this.running) return;
    if (this.armed !== undefined) this.clock.clearTimeout(this.armed);
    const next = this.heap[0];
    if (!next) {
      this.armed = undefined;
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = next.due;
    this.armed = this.clock.setTimeout(() => this.run(), Math.max(0, next.due - this.clock.now()));
  }

  /** Fires every entry that is due, then re-arms for the next one. */
  private run(): void {
    this.armed = undefined;
    this.armedFor = Infinity;
    const now = this.clock.now();
    // Bound one turn so a burst of due timers cannot starve socket I/O.
    for (let n = 0; n < 5000; n++) {
      const top = this.heap[0];
      if (!top || top.due > now || !this.running) break;
      this.pop();
      this.fired++;
      try {
        top.target.onTimer(top.kind, top.token, now);
      } catch (err) {
        this.errors++;
        this.reportError(err, top.target, top.kind);
      }
    }
    this.arm();
  }

  private reportError(err: unknown, target: TimerTarget, kind: number): void {
    try {
      this.onError(err, target, kind);
    } catch {
      // A failing error handler must not stop the timers of every other node.
    }
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** A clock for tests: time moves only when told. */
export class FakeClock implements Clock {
  private t: number;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Advances time, firing timers in order as their time comes. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let nextId: number | undefined;
      let nextAt = Infinity;
      for (const [id, tm] of this.timers) if (tm.at < nextAt) [nextId, nextAt] = [id, tm.at];
      if (nextId === undefined || nextAt > end) break;
      const tm = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.t = Math.max(this.t, tm.at);
      tm.fn();
    }
    this.t = end;
  }
}
