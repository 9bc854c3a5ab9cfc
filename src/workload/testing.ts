/**
 * Fakes for the phases' unit tests: a clock that moves only when someone
 * sleeps (so minutes of polling take milliseconds), a fleet that registers
 * its nodes in a FakeKube, and a RunContext wired to both.
 */
import type { z } from 'zod';
import type { Logger } from '../core/log.js';
import { testSchema, type LoadTest } from '../run/config.js';
import { RunContext, type FleetControl, type ResourceSampler, type Time } from './context.js';
import { FakeKube, type FakeKubeHooks } from './fake-kube.js';

/** Virtual time: `sleep` advances the clock at once, then yields to other callbacks. */
export class VirtualTime implements Time {
  constructor(private t = 0) {}

  now(): number {
    return this.t;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.t += Math.max(0, ms);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Nodes `<prefix>0..n-1` registered on `up`; or a failure, if told to fail. */
export class FakeFleet implements FleetControl {
  ups = 0;
  downs = 0;
  /** Set to make the fleet "exit" on `up` with this reason. */
  failWith: string | undefined;
  private failed: string | undefined;

  constructor(private readonly kube: FakeKube) {}

  async up(ctx: RunContext): Promise<void> {
    this.ups++;
    if (this.failWith) {
      this.failed = this.failWith;
      return;
    }
    for (const g of ctx.test.spec.nodes) for (let i = 0; i < g.count; i++) this.kube.registerNode(`${g.prefix}${i}`);
  }

  async down(): Promise<void> {
    this.downs++;
  }

  failure(): string | undefined {
    return this.failed;
  }
}

export class FakeResources implements ResourceSampler {
  readonly points: { cpu: Record<string, number>; rss: Record<string, number> }[] = [];

  /** Each sample: the runner's RSS is 1 MiB per pod in `pods()`. */
  constructor(private readonly pods: () => number) {}

  sample(): void {
    this.points.push({ cpu: { runner: 0.1 }, rss: { runner: this.pods() * 2 ** 20 } });
  }
}

export function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Harness {
  ctx: RunContext;
  kube: FakeKube;
  fleet: FakeFleet;
  time: VirtualTime;
  log: ReturnType<typeof recordingLog>;
  resources: FakeResources;
  abort: AbortController;
}

/** A LoadTest with the schema's defaults; `spec` fields replace them. */
export function loadTest(spec: Partial<z.input<typeof testSchema>['spec']> = {}): LoadTest {
  return testSchema.parse({ apiVersion: 'edgemark.io/v1alpha1', kind: 'LoadTest', metadata: { name: 't' }, spec: { phases: [{ kind: 'nodesUp' }], ...spec } });
}

/** `nodesReady` replaces the fleet's count of Ready nodes (default: every registered node). */
export function harness(o: { test?: LoadTest; hooks?: FakeKubeHooks; stallMs?: number; nodesReady?: () => number } = {}): Harness {
  const time = new VirtualTime(0);
  const kube = new FakeKube(time, o.hooks);
  const fleet = new FakeFleet(kube);
  const log = recordingLog();
  const resources = new FakeResources(() => [...kube.pods.values()].filter((p) => p.runningAt !== undefined).length);
  const abort = new AbortController();
  const ctx = new RunContext({
    runId: 'run-1',
    test: o.test ?? loadTest({ nodes: [{ count: 4, joinRate: 50, workers: 1, prefix: 'n-', cpu: '2', memory: '4Gi', pods: '110' }] }),
    log,
    signal: abort.signal,
    kube,
    fleet,
    resources,
    nodesReady: o.nodesReady ?? (() => kube.nodes.size),
    time,
    ...(o.stallMs !== undefined ? { stallMs: o.stallMs } : {}),
  });
  return { ctx, kube, fleet, time, log, resources, abort };
}
