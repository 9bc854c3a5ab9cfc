/**
 * The process of one runner pod (`edgemark fleet runner`): it runs its slice
 * of the plan (pod o of K nodes each holds nodes o*K..o*K+K-1) in this
 * process, and serves at the pod's address /healthz (its event loop
 * answers), /readyz (every node of the pod is Ready), /summary (the fleet
 * summary, JSON) and /metrics (the runner's Prometheus metrics).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { EdgemarkError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { listen } from '../../core/http.js';
import type { Milestone } from '../../fleet/fleet.js';
import type { FleetSummary } from '../../fleet/summary.js';
import { InProcessRuntime } from '../inprocess.js';
import { parsePlan, planNodeCount, type FleetPlan } from '../plan.js';
import type { GivenIdentity } from '../../kind/kind.js';
import type { LinkFaultCommand, LinkFaultResult } from '../../link/model.js';
import type { Credentials, FleetResult } from '../runtime.js';

const MAX_MILESTONES = 200_000;

const runnerSchema = z.object({ nodesPerPod: z.number().int().positive(), port: z.number().int().min(1).max(65535), portPerOrdinal: z.boolean() }).strict();

export interface PodRunnerOptions {
  planFile: string;
  runnerFile: string;
  tokenFile: string;
  /** The kubelet nodes' bootstrap token (a key of the fleet Secret), when the plan has kubelet nodes. */
  bootstrapTokenFile?: string;
  /** Or their shared given identity (JSON of a GivenCredential and its source). */
  nodeIdentityFile?: string;
  /** metadata.name of the pod (a StatefulSet pod: <name>-<ordinal>). */
  podName: string | undefined;
  /** status.podIP */
  podIp: string | undefined;
  log: Logger;
  signal: AbortSignal;
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EdgemarkError(
      'EM_RUNNER_CONFIG',
      `[runner] cannot read ${what} ${file}: ${(err as Error).message}`,
      "the pod mounts the fleet's ConfigMap there; recreate the fleet with `edgemark fleet create`",
    );
  }
}

export function ordinalOf(podName: string | undefined): number {
  const m = /-(\d+)$/.exec(podName ?? '');
  if (!m) {
    throw new EdgemarkError(
      'EM_RUNNER_CONFIG',
      `[runner] POD_NAME ${podName ?? '(unset)'} does not end in -<ordinal>`,
      "run the runner as a pod of the fleet's StatefulSet, with POD_NAME from metadata.name",
    );
  }
  return Number(m[1]);
}

/** This pod's part of the plan; a pod past the plan's end (a scale-down in flight) is an error. */
export function podSlice(plan: FleetPlan, ordinal: number, nodesPerPod: number): FleetPlan {
  const total = planNodeCount(plan);
  const from = ordinal * nodesPerPod;
  if (from >= total) {
    throw new EdgemarkError(
      'EM_RUNNER_CONFIG',
      `[runner] pod ${ordinal} would hold nodes from ${from}, and the plan has ${total}`,
      'the fleet is being scaled down: this pod goes away',
    );
  }
  return { ...plan, slice: { from, count: Math.min(nodesPerPod, total - from) } };
}

function checkOwnAddress(ip: string | undefined): string {
  const own = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
  if (!ip || !own.includes(ip)) {
    throw new EdgemarkError(
      'EM_RUNNER_CONFIG',
      `[runner] POD_IP ${ip ?? '(unset)'} is not an address of this pod`,
      'set POD_IP from status.podIP (the downward API)',
    );
  }
  return ip;
}

export async function runPodRunner(o: PodRunnerOptions): Promise<FleetResult> {
  const plan = parsePlan(readJson(o.planFile, 'the plan'));
  const settings = runnerSchema.parse(readJson(o.runnerFile, 'the runner settings'));
  const ordinal = ordinalOf(o.podName);
  const mine = podSlice({ ...plan, observe: { ...plan.observe, metrics: '127.0.0.1:0' } }, ordinal, settings.nodesPerPod);
  const host = checkOwnAddress(o.podIp);
  const port = settings.port + (settings.portPerOrdinal ? ordinal : 0);
  const hasEdge = plan.groups.some((g) => g.kind === 'edge');
  const secret = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new EdgemarkError(
        'EM_NO_TOKEN',
        `[runner] cannot read ${what} ${file}: ${(err as Error).message}`,
        "the pod mounts the fleet's token Secret there",
      );
    }
  };
  const token = hasEdge ? secret(o.tokenFile, 'the join token') : '';
  if (hasEdge && !token)
    throw new EdgemarkError(
      'EM_NO_TOKEN',
      `[runner] the join token file ${o.tokenFile} is empty`,
      'recreate the fleet: `edgemark fleet create` copies the token of the cluster under test',
    );
  const credentials: Credentials = { token };
  if (o.bootstrapTokenFile) credentials.bootstrapToken = secret(o.bootstrapTokenFile, 'the bootstrap token');
  if (o.nodeIdentityFile) credentials.nodeKubeconfig = JSON.parse(secret(o.nodeIdentityFile, 'the node identity')) as GivenIdentity;
  const count = mine.slice!.count;
  o.log.info(`pod ${o.podName}: nodes ${mine.slice!.from}..${mine.slice!.from + count - 1} of ${planNodeCount(plan)}; serving ${host}:${port}`);
  const fleet = await new InProcessRuntime().start(mine, credentials, { log: o.log, signal: o.signal });
  let latest: FleetSummary | undefined;
  // Pod milestones until the runtime reads them (GET /milestones takes them); the oldest go past a bound.
  let milestones: Milestone[] = [];
  fleet.on((e) => {
    if (e.type === 'status') latest = e.summary;
    else if (e.type === 'milestones') {
      milestones.push(...e.milestones);
      if (milestones.length > MAX_MILESTONES) milestones = milestones.slice(-MAX_MILESTONES);
    } else if (e.type === 'fatal') o.log.error(`fatal: ${e.error.message}${e.error.fix ? ` (${e.error.fix})` : ''}`);
  });
  const server = await serve(host, port, {
    ready: () => {
      const ready = latest?.states.ready ?? 0;
      return { ok: ready >= count, text: `${ready} of ${count} nodes Ready\n` };
    },
    summary: () => latest,
    takeMilestones: () => {
      const m = milestones;
      milestones = [];
      return m;
    },
    linkFault: (cmd) => fleet.linkFault(cmd),
    metrics: async () => {
      if (!fleet.metricsUrl) return '';
      const res = await fetch(fleet.metricsUrl);
      return res.text();
    },
  });
  try {
    return await fleet.done;
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

interface Handlers {
  ready(): { ok: boolean; text: string };
  summary(): FleetSummary | undefined;
  takeMilestones(): Milestone[];
  linkFault(cmd: LinkFaultCommand): Promise<LinkFaultResult>;
  metrics(): Promise<string>;
}

/** POST /link's body: a link fault, as the driver sends it. */
const linkFaultSchema = z
  .object({
    id: z.string().min(1).max(100),
    groups: z.array(z.string()).optional(),
    first: z.number().int().min(0).optional(),
    durationMs: z
      .number()
      .min(0)
      .max(7 * 86_400_000),
    condition: z
      .object({
        block: z.enum(['out', 'in', 'both']).optional(),
        latencyMs: z.number().min(0).optional(),
        jitterMs: z.number().min(0).optional(),
        loss: z.number().min(0).max(1).optional(),
        rateBps: z.number().positive().optional(),
        flap: z.object({ downMs: z.number().positive(), everyMs: z.number().positive() }).strict().optional(),
      })
      .strict()
      .optional(),
    drop: z.object({ backoff: z.boolean() }).strict().optional(),
  })
  .strict();

function readBody(req: import('node:http').IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new Error(`body over ${max} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function serve(host: string, port: number, h: Handlers): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    else if (path === '/readyz') {
      const r = h.ready();
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(r.text);
    } else if (path === '/summary') {
      const s = h.summary();
      if (s) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(s));
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('no summary yet\n');
    } else if (path === '/milestones') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(h.takeMilestones()));
    } else if (path === '/link' && req.method === 'POST') {
      readBody(req, 64 * 1024)
        .then((text) => {
          const cmd = linkFaultSchema.safeParse(JSON.parse(text));
          if (!cmd.success) throw new Error(cmd.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
          return h.linkFault(cmd.data as LinkFaultCommand);
        })
        .then(
          (r) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r)),
          (err: unknown) => res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
        );
    } else if (path === '/metrics') {
      h.metrics().then(
        (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
      );
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('see /healthz, /readyz, /summary, /milestones, /metrics, POST /link\n');
  });
  await listen(server, host, port, 'runner', 'another runner pod of the same ordinal shares this network: check for two fleets with one name');
  return server;
}
