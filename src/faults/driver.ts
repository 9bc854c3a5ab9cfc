/**
 * Carries out planned faults on time: each one, `atMs` after the driver is
 * started (when every node of the run is up), goes to the fleet, whose
 * runner processes lay it on and lift it after its duration by themselves
 * (so a driver that dies leaves nothing impaired). The driver keeps a record
 * of each: when it began and ended, and how many nodes it reached.
 */
import type { Logger } from '../core/log.js';
import type { LinkFaultCommand, LinkFaultResult } from '../link/model.js';
import type { Killable, PlannedFault } from './spec.js';

export interface FaultTarget {
  linkFault(cmd: LinkFaultCommand): Promise<LinkFaultResult>;
}

/** What kill faults act on: the local control plane's components. */
export interface ControlPlaneFaults {
  /** Signals the component and waits until it is gone. */
  kill(component: Killable, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts what is stopped again, and waits until it is healthy. */
  restart(): Promise<void>;
}

/** One fault as it happened (times in ms since `origin`). */
export interface FaultRecord {
  name: string;
  effect: PlannedFault['effect'];
  description: string;
  /** The nodes it was meant for, by name (the SLIs follow them). */
  nodes: string[];
  startMs?: number;
  endMs?: number;
  /** Nodes the runners acted on, and targeted ones whose kind has no link (kubelet nodes). */
  affected?: number;
  unsupported?: number;
  /** Why it did not start or fail to reach the runners. */
  error?: string;
}

export class FaultDriver {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly recs: FaultRecord[];
  private started = false;
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly faults: PlannedFault[],
    private readonly target: FaultTarget,
    private readonly log: Logger,
    /** Records' times count from here (the run's start). */
    private readonly origin: number,
    private readonly controlPlane?: ControlPlaneFaults,
    private readonly now: () => number = Date.now,
  ) {
    this.recs = faults.map((f) => ({ name: f.name, effect: f.effect, description: f.description, nodes: f.nodes }));
  }

  get count(): number {
    return this.faults.length;
  }

  /** Starts the clock: each fault at its `atMs` from now. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const [i, f] of this.faults.entries()) {
      const t = setTimeout(() => void this.fire(i), f.atMs);
      t.unref();
      this.timers.push(t);
    }
  }

  private async fire(i: number): Promise<void> {
    const f = this.faults[i]!;
    const r = this.recs[i]!;
    r.startMs = this.now() - this.origin;
    this.log.info(`fault ${f.name}: ${f.description}${f.kill ? '' : ` on ${f.nodes.length} node(s) for ${f.durationMs / 1000} s`}`);
    if (f.kill) return this.fireKill(f, r);
    try {
      const res = await this.target.linkFault(f.command!);
      r.affected = res.affected;
      r.unsupported = res.unsupported;
      if (res.affected < f.nodes.length) {
        this.log.warn(
          `fault ${f.name}: reached ${res.affected} of ${f.nodes.length} node(s)${res.unsupported ? ` (${res.unsupported} of a kind without a link model)` : ''}`,
        );
      }
    } catch (err) {
      r.error = (err as Error).message;
      this.log.warn(`fault ${f.name}: could not reach the runners: ${r.error}`);
      return;
    }
    const end = setTimeout(() => {
      r.endMs = this.now() - this.origin;
      this.log.info(`fault ${f.name}: ended`);
    }, f.durationMs);
    end.unref();
    this.timers.push(end);
  }

  private async fireKill(f: PlannedFault, r: FaultRecord): Promise<void> {
    const cp = this.controlPlane;
    if (!cp) {
      r.error = 'no local control plane to kill a component of';
      return;
    }
    try {
      await cp.kill(f.kill!.component, f.kill!.signal);
      r.affected = f.nodes.length;
    } catch (err) {
      r.error = `the kill failed: ${(err as Error).message}`;
      this.log.warn(`fault ${f.name}: ${r.error}`);
      return;
    }
    const t = setTimeout(() => {
      this.log.info(`fault ${f.name}: starting ${f.kill!.component} again`);
      this.restarting = cp.restart().then(
        () => {
          r.endMs = this.now() - this.origin;
          this.log.info(`fault ${f.name}: ${f.kill!.component} is up again`);
        },
        (err: unknown) => {
          r.endMs = this.now() - this.origin;
          r.error = `the restart failed: ${(err as Error).message}`;
          this.log.warn(`fault ${f.name}: ${r.error}`);
        },
      );
    }, f.durationMs);
    t.unref();
    this.timers.push(t);
  }

  /** A component a kill fault stopped and did not start yet: started again now (the run must not leave it down). */
  async settle(): Promise<void> {
    await this.restarting;
    const cp = this.controlPlane;
    const stillDown = this.recs.some((r, i) => this.faults[i]!.kill && r.startMs !== undefined && r.endMs === undefined && !r.error);
    if (cp && stillDown) {
      this.log.info('faults: starting the killed component(s) again before the run ends');
      await cp.restart().catch((err: unknown) => this.log.warn(`faults: the restart failed: ${(err as Error).message}`));
    }
  }

  /** Stops what has not begun; a fault in force ends now in the record (the runners lift it when they stop). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    const t = this.now() - this.origin;
    for (const r of this.recs) {
      if (r.startMs === undefined && !r.error) r.error = this.started ? 'the run ended before it began' : 'the nodes were never all up';
      else if (r.startMs !== undefined && r.endMs === undefined && !r.error) r.endMs = t;
    }
  }

  records(): FaultRecord[] {
    return this.recs;
  }
}
