/**
 * How many nodes of a runner may be joining at once: started, but neither
 * Ready yet nor given up on by CloudCore (a registration that timed out). The
 * runner starts the next node only when one leaves, so its join rate follows
 * how fast the control plane answers registrations instead of outrunning it.
 * Without it, CloudCore's edgecontroller and kube-apiserver queue registrations
 * past edged's 60 s timeout; each timed-out one is sent again, the queue grows
 * with the retries, and joins stall (5,000 fresh nodes on 2 cores did).
 */
export class JoinWindow {
  private readonly pending = new Set<string>();
  private waiter: (() => void) | undefined;
  /** Milliseconds the runner spent waiting for a free slot: the control plane's pace. */
  waitedMs = 0;

  /** `size` 0 means no window (every node starts at the join rate). */
  constructor(readonly size: number) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** Counts `name` as joining. */
  enter(name: string): void {
    if (this.size > 0) this.pending.add(name);
  }

  /** `name` is Ready, or CloudCore let its registration time out, or it stopped. */
  leave(name: string): void {
    if (!this.pending.delete(name) || this.pending.size >= this.size) return;
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Resolves when fewer than `size` nodes are joining, or when `signal` aborts. */
  async free(signal: AbortSignal): Promise<void> {
    if (this.size === 0 || this.pending.size < this.size || signal.aborted) return;
    const since = Date.now();
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.waiter = undefined;
        resolve();
      };
      this.waiter = done;
      signal.addEventListener('abort', done, { once: true });
    });
    this.waitedMs += Date.now() - since;
  }
}
