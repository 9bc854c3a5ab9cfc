/**
 * FleetControl as a child `edgemark nodes run` process (so the runner's own
 * event loop is measured apart from the driver's), reporting through files
 * in the run directory: runner.log, the summary JSON and the pod trace
 * (one file, or one per worker). A stopgap until a Runtime takes its place.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';
import type { FleetSummary } from '../fleet/fleet.js';
import type { FleetControl, RunContext } from '../workload/context.js';
import { RUN_LABEL } from '../workload/kube.js';

/** A pod milestone as the runner traces it. */
export interface PodTraceEvent {
  uid: string;
  event: string;
  ms: number;
}

/** SIGINT lets the runner write its summary; past this, SIGKILL. */
const STOP_GRACE_MS = 30_000;

export class ChildFleet implements FleetControl {
  private child: ChildProcess | undefined;
  private stopping = false;
  private exitedEarly: string | undefined;

  /** `dir`: the run directory, where the runner's files go. */
  constructor(private readonly o: { stateDir: string; dir: string }) {}

  private get summaryFile(): string {
    return join(this.o.dir, 'runner-summary.json');
  }

  async up(ctx: RunContext): Promise<void> {
    const n = ctx.test.spec.nodes;
    const { dir } = this.o;
    const args = [
      join(packageRoot(), 'dist/src/cli/main.js'), '--state-dir', this.o.stateDir, 'nodes', 'run', '-n', String(n.count), '--prefix', n.prefix,
      '--workers', String(Math.min(n.workers, n.count)), '--join-rate', String(n.joinRate), '--labels', `${RUN_LABEL}=${ctx.runId}`,
      '--cpu', n.cpu, '--memory', n.memory, '--pods', n.pods, '--summary-json', this.summaryFile, '--trace-pods', join(dir, 'pod-trace.jsonl'),
      '--data-dir', join(dir, 'runner'), '--duration', String(ctx.test.spec.timeoutSeconds + 60),
    ];
    const logFd = openSync(join(dir, 'runner.log'), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', logFd, logFd] });
    this.child = child;
    child.once('error', (err) => (this.exitedEarly ??= `the runner could not start: ${err.message}`));
    child.once('exit', () => {
      if (!this.stopping) this.exitedEarly ??= `the runner exited early (see ${join(dir, 'runner.log')})`;
    });
  }

  /** The runner's pid while it runs (its process tree is sampled as "runner"). */
  pid(): number | undefined {
    return this.child?.pid;
  }

  failure(): string | undefined {
    return this.exitedEarly;
  }

  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(t);
  }

  /** What the runner wrote on its way out; undefined if it never did. */
  summary(): FleetSummary | undefined {
    try {
      return JSON.parse(readFileSync(this.summaryFile, 'utf8')) as FleetSummary;
    } catch {
      return undefined;
    }
  }

  /** The runner's pod milestones. */
  podTrace(): PodTraceEvent[] {
    const out: PodTraceEvent[] = [];
    for (const f of readdirSync(this.o.dir).filter((x) => x.startsWith('pod-trace.jsonl'))) {
      for (const line of readFileSync(join(this.o.dir, f), 'utf8').split('\n')) {
        if (!line) continue;
        try {
          out.push(JSON.parse(line) as PodTraceEvent);
        } catch {
          /* a line cut by a kill */
        }
      }
    }
    return out;
  }
}
