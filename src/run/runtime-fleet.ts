/**
 * The run's hollow nodes through the runtime interface: spec.nodes of the
 * test becomes a FleetPlan against the run's target, started on the runtime
 * the run names (local worker processes by default, so that the nodes' event
 * loop is measured apart from the driver's). The summary and the pod
 * milestones arrive as runtime events; nothing is read back from files.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../core/log.js';
import type { Milestone } from '../fleet/fleet.js';
import { liveLine, type FleetSummary } from '../fleet/summary.js';
import {
  createRuntime,
  parsePlan,
  PLAN_API_VERSION,
  type FleetPlan,
  type FleetPlanInput,
  type OneGroupPlan,
  type RunningFleet,
  type Runtime,
  type RuntimeOptions,
} from '../runtime/index.js';
import { fleetJoinRate, fleetWorkers, nodeCount, type NodeGroup } from './config.js';
import type { ResourceSource } from '../measure/sources.js';
import type { LinkFaultCommand, LinkFaultResult } from '../link/model.js';
import type { Target } from '../target/target.js';
import type { FleetControl, RunContext } from '../workload/context.js';
import { RUN_LABEL } from '../workload/kube.js';

export interface RuntimeFleetOptions {
  target: Target;
  /** The run directory: the runner's certificates and store go under it. */
  dir: string;
  /** Runtime name (default workers). */
  runtime?: string;
  /** Settings of that runtime (the kubernetes runtime's external cluster and pods). */
  runtimeOptions?: RuntimeOptions;
}

/** The plan and runtime of a test's spec.nodes against a target (dry runs print them). */
export function fleetFor(
  ctx: Pick<RunContext, 'test' | 'runId'>,
  target: OneGroupPlan['target'],
  dir: string,
  runtimeName = 'workers',
  runtimeOptions: RuntimeOptions = {},
): { plan: FleetPlan; runtime: Runtime } {
  const groups = ctx.test.spec.nodes;
  const plan = parsePlan({
    apiVersion: PLAN_API_VERSION,
    kind: 'FleetPlan',
    target: {
      name: target.name,
      cloudcore: target.cloudcore,
      ...(target.apiserver ? { apiserver: target.apiserver } : {}),
      ...(target.apiserverCa && groups.some((g) => g.kind === 'kubelet') ? { apiserverCa: target.apiserverCa } : {}),
    },
    groups: groups.map((g) => ({ name: g.name, kind: g.kind, count: g.count, prefix: g.prefix, profile: groupProfile(g, ctx.runId) })),
    pacing: { joinRate: fleetJoinRate(ctx.test) },
    dataDir: join(dir, 'runner'),
    observe: { tracePods: true, metrics: '127.0.0.1:0' },
    durationSeconds: ctx.test.spec.timeoutSeconds + 60,
  } satisfies FleetPlanInput);
  const count = nodeCount(ctx.test);
  const runtime = createRuntime(runtimeName, {
    ...runtimeOptions,
    ...(runtimeName === 'workers' ? { workers: Math.max(1, Math.min(fleetWorkers(ctx.test), count)) } : {}),
  });
  return { plan, runtime };
}

/** A group's node profile as its kind reads it: capacity given, the kubelet kind's options, the run's label. */
export function groupProfile(g: NodeGroup, runId: string): Record<string, unknown> {
  const set = <K extends keyof NodeGroup>(k: K) => (g[k] !== undefined ? { [k]: g[k] } : {});
  return {
    ...set('cpu'),
    ...set('memory'),
    ...set('pods'),
    ...(g.kind === 'kubelet' ? { ...set('shape'), ...set('proxy'), ...set('npd'), ...set('requireHostPort') } : {}),
    labels: { [RUN_LABEL]: runId },
  };
}

export class RuntimeFleet implements FleetControl {
  private running: RunningFleet | undefined;
  private readonly milestones: Milestone[] = [];
  private final: FleetSummary | undefined;
  private stopping = false;
  private stoppedBy: string | undefined;
  private logFd: number | undefined;
  /** What could not be cleaned up when the fleet stopped. */
  readonly problems: string[] = [];

  constructor(private readonly o: RuntimeFleetOptions) {}

  async up(ctx: RunContext): Promise<void> {
    const { plan, runtime } = fleetFor(ctx, this.o.target, this.o.dir, this.o.runtime, this.o.runtimeOptions);
    // The runner's own lines (its warnings, its processes' output) go to runner.log in the run directory.
    const fd = openSync(join(this.o.dir, 'runner.log'), 'a', 0o600);
    this.logFd = fd;
    const log = createLogger({ level: 'info', write: (line) => writeSync(fd, `${line}\n`) });
    const kinds = new Set(plan.groups.map((g) => g.kind));
    // Each kind's credentials, read only when the plan has that kind.
    const credentials = {
      token: kinds.has('edge') ? await this.o.target.token() : '',
      ...(kinds.has('kubelet') ? await this.o.target.kubeletCredentials() : {}),
    };
    const fleet = await runtime.start(plan, credentials, { log, outputFd: fd });
    log.info(`${plan.groups.map((g) => `${g.count} ${g.kind} nodes (${g.name})`).join(', ')} on runtime ${runtime.name} -> ${plan.target.name}`);
    this.running = fleet;
    fleet.on((e) => {
      if (e.type === 'milestones') this.milestones.push(...e.milestones);
      else if (e.type === 'status') log.info(liveLine(e.summary));
      else if (e.type === 'fatal') this.stoppedBy ??= `the runner stopped: ${e.error.message}`;
    });
    void fleet.done.then((r) => {
      this.final = r.summary;
      this.problems.push(...r.problems);
      if (!this.stopping) this.stoppedBy ??= `the runner ended early${r.fatal ? `: ${r.fatal.message}` : ''}`;
    });
  }

  failure(): string | undefined {
    return this.stoppedBy;
  }

  /** A link fault to every runner process; none reached when the fleet is not running. */
  async linkFault(cmd: LinkFaultCommand): Promise<LinkFaultResult> {
    if (!this.running) throw new Error('the runner is not running');
    return this.running.linkFault(cmd);
  }

  async down(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    const r = await this.running.stop();
    this.final = r.summary ?? this.final;
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
  }

  /** The runner as a remote runtime reports it (its pods' process metrics): a gap until the fleet runs. */
  remoteRunnerSource(): ResourceSource {
    return {
      name: 'runner',
      how: 'metrics',
      detail: "the runner pods' /metrics through the apiserver's pod proxy",
      sample: async () => this.running?.remoteResources?.(),
    };
  }

  /** Local pids of the processes that hold the nodes (sampled as "runner"). */
  processes(): number[] {
    return this.running?.processes() ?? [];
  }

  /** The final summary, or the latest while it runs. */
  summary(): FleetSummary | undefined {
    return this.final ?? this.running?.latest();
  }

  podTrace(): Milestone[] {
    return this.milestones;
  }
}
