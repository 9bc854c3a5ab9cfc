/**
 * `edgemark fleet <verb>`: hollow nodes as runner pods on an existing
 * ("external") Kubernetes cluster, joining the cluster under test (the local
 * cluster by default, or --kubeconfig with --cloudcore): the verbs of
 * kubemark-cluster (setup, create, scale, verify, list, cleanup, help) and
 * kubemark's "where is my hollow node" (where, logs). Also the two commands
 * the pods run: `fleet runner` and `fleet probe`.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { EdgemarkError } from '../core/errors.js';
import { formatDuration, type Logger } from '../core/log.js';
import { pollUntil } from '../core/poll.js';
import { deleteNodes, isNotFound, k8s, loadKubeConfig } from '../kube/client.js';
import { nodeIndex, nodeNames, oneGroupPlan, planNodeCount, type FleetPlan } from '../runtime/index.js';
import {
  applyObjects,
  deleteFleet,
  ensureNamespace,
  explainWaiting,
  externalKubeConfig,
  podSummaries,
  requireFleet,
  runnerPods,
  unreachable,
  type FleetRef,
  type RunnerPod,
  type StoredFleet,
} from '../runtime/kubernetes/external.js';
import { fleetObjects, objectNames, podCount, POD_PATHS, probeJob, type PodSettings } from '../runtime/kubernetes/manifests.js';
import { probe } from '../runtime/kubernetes/probe.js';
import { runPodRunner } from '../runtime/kubernetes/runner.js';
import { fleetActions, podSettings } from '../runtime/kubernetes/runtime.js';
import { cloudcoreAddresses, resolveTarget, type Target, type TargetFlags } from '../target/target.js';
import { readFileSync } from 'node:fs';
import { cliContext, interruptible, parsePositiveInt } from './context.js';
import { imageRef } from '../image/ref.js';
import { podOptions, pullPolicyOf, type PodFlags } from './pod-flags.js';
import { targetOptions } from './nodes.js';

/** The fleet's label on its hollow Node objects (cluster under test). */
export const FLEET_LABEL = 'edgemark.io/fleet';

interface FleetFlags extends TargetFlags, PodFlags {
  namespace: string;
  name: string;
  prefix: string;
  joinRate: number;
  wait: number;
  dryRun?: boolean;
  output?: string;
}

function fleetOptions(cmd: Command): Command {
  return podOptions(targetOptions(cmd))
    .option('--namespace <ns>', 'namespace of the runner pods on the external cluster', 'edgemark')
    .option('--name <name>', 'the fleet: its objects are <name>-runner, <name>-plan, <name>-token', 'edgemark')
    .option('--prefix <p>', 'hollow node names are <prefix><index>', 'hollow-edge-')
    .option('--join-rate <r>', 'nodes started per second over the whole fleet', (v) => Number(v), 50)
    .option('--wait <seconds>', 'how long create, scale and setup wait', parsePositiveInt('--wait'), 600);
}

interface Env {
  log: Logger;
  stateDir: string;
  flags: FleetFlags;
  ref: FleetRef;
  externalPath: string;
}

function envOf(cmd: Command): Env {
  const { log, stateDir } = cliContext(cmd);
  const flags = cmd.opts<FleetFlags>();
  const externalPath = flags.externalKubeconfig ?? process.env.EDGEMARK_EXTERNAL_KUBECONFIG;
  if (!externalPath) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      '[fleet] no external cluster: the runner pods need a cluster to run on',
      'pass --external-kubeconfig <file> (or set EDGEMARK_EXTERNAL_KUBECONFIG)',
    );
  }
  return { log, stateDir, flags, externalPath, ref: { kc: externalKubeConfig(externalPath), namespace: flags.namespace, name: flags.name } };
}

function planOf(target: Target, count: number, f: FleetFlags): FleetPlan {
  return oneGroupPlan({
    target,
    count,
    prefix: f.prefix,
    joinRate: f.joinRate,
    profile: { labels: { [FLEET_LABEL]: f.name } },
    dataDir: POD_PATHS.data,
    metrics: false,
  });
}

function settingsOf(plan: FleetPlan, f: FleetFlags, nodesPerPod?: number): PodSettings {
  const image = imageRef(f.image);
  return podSettings(plan, {
    name: f.name,
    namespace: f.namespace,
    image,
    imagePullPolicy: pullPolicyOf(image, f.pullPolicy),
    ...((nodesPerPod ?? f.nodesPerPod) !== undefined ? { nodesPerPod: nodesPerPod ?? f.nodesPerPod } : {}),
    ...(f.hostNetwork !== undefined ? { hostNetwork: f.hostNetwork } : {}),
    ...(f.nodeSelector ? { nodeSelector: f.nodeSelector } : {}),
  });
}

/** The cluster under test's API, for its Node and Lease objects. */
function testedKube(target: Target): k8s.KubeConfig {
  const path = target.kubeconfig ?? target.local?.kubeconfig;
  if (!path) throw new EdgemarkError('EM_NO_KUBECONFIG', '[fleet] the cluster under test has no kubeconfig', 'pass --kubeconfig <file>');
  return loadKubeConfig(path);
}

/** Ready, by node name, of the fleet's hollow nodes on the cluster under test. */
async function hollowNodes(kc: k8s.KubeConfig, name: string): Promise<Map<string, boolean>> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNode({ labelSelector: `${FLEET_LABEL}=${name}` });
  return new Map(list.items.map((n) => [n.metadata!.name!, n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false]));
}

/** Waits until every runner pod is Ready and every hollow node of the plan is Ready; a pod that cannot start fails it at once, explained. */
async function waitReady(env: Env, fleet: { plan: FleetPlan; pods: number; image: string }, tested: k8s.KubeConfig, signal: AbortSignal): Promise<void> {
  const want = planNodeCount(fleet.plan);
  const started = Date.now();
  let last = '';
  let lastAt = 0;
  await pollUntil(
    `${want} hollow nodes Ready`,
    async () => {
      const pods = await runnerPods(env.ref);
      for (const p of pods) {
        const e = explainWaiting(p, fleet.image);
        if (e) throw e;
      }
      const nodes = await hollowNodes(tested, env.flags.name);
      const ready = nodeNames(fleet.plan).filter((n) => nodes.get(n)).length;
      const podsReady = pods.filter((p) => p.ready).length;
      const line = `${podsReady}/${fleet.pods} runner pods Ready, ${ready}/${want} hollow nodes Ready`;
      if (line !== last || Date.now() - lastAt > 10_000) {
        env.log.info(`  ${line} (${formatDuration(Date.now() - started)})`);
        lastAt = Date.now();
      }
      last = line;
      return podsReady === fleet.pods && ready === want ? true : undefined;
    },
    { timeoutMs: env.flags.wait * 1000, intervalMs: 2000, signal, retryErrors: false, prefix: '[fleet]' },
  ).catch((err: unknown) => {
    if (err instanceof EdgemarkError && err.code === 'EM_TIMEOUT') {
      throw new EdgemarkError(
        'EM_FLEET_NOT_READY',
        `[fleet] not Ready after ${env.flags.wait} s: ${last}`,
        'run `edgemark fleet verify` to see which nodes and pods are not, and why',
      );
    }
    throw err;
  });
}

export function registerFleet(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('hollow nodes as runner pods on an existing (external) Kubernetes cluster, joining the cluster under test')
    .addHelpText(
      'after',
      `
Two clusters: the external cluster (--external-kubeconfig) runs the runner pods, K hollow
nodes each (a StatefulSet: pod o holds nodes o*K..o*K+K-1); the cluster under test (the
local cluster, or --kubeconfig with --cloudcore) is the one they join.

  edgemark fleet setup              check the external cluster, its RBAC, and that its pods reach the cluster under test
  edgemark fleet create 200 --nodes-per-pod 50
  edgemark fleet scale 300          the first 200 keep their names and pods
  edgemark fleet verify             every node Ready? the ones that are not, with their pod
  edgemark fleet list | where NODE | logs NODE [-f]
  edgemark fleet cleanup            every object of the fleet, on both clusters`,
    );

  fleetOptions(
    fleet
      .command('setup')
      .description('check the external cluster (reachable, RBAC), and with a short Job that its pods reach CloudCore and kube-apiserver with a valid token'),
  ).action((_o: unknown, cmd: Command) => setup(cmd));
  fleetOptions(
    fleet
      .command('create')
      .argument('<count>', 'hollow nodes', parsePositiveInt('count'))
      .description('create the fleet: N hollow nodes as N/K runner pods; waits until all are Ready')
      .option('--dry-run', 'print what would be created; create nothing, read no token')
      .option('-o, --output <format>', 'with --dry-run: yaml prints the objects'),
  ).action((count: number, _o: unknown, cmd: Command) => create(cmd, count));
  fleetOptions(
    fleet
      .command('scale')
      .argument('<count>', 'hollow nodes', parsePositiveInt('count'))
      .description('grow or shrink the fleet to N nodes (a multiple of its nodes per pod); the nodes it keeps keep their names'),
  ).action((count: number, _o: unknown, cmd: Command) => scale(cmd, count));
  fleetOptions(
    fleet.command('verify').description('all N hollow nodes Ready on the cluster under test? exits 1 naming the ones that are not, with their pod'),
  ).action((_o: unknown, cmd: Command) => verify(cmd));
  fleetOptions(fleet.command('list').description('the runner pods: where they run, their nodes, how many are Ready')).action((_o: unknown, cmd: Command) =>
    list(cmd),
  );
  fleetOptions(fleet.command('where').argument('<node>', 'a hollow node').description('the pod, container and external node that host a hollow node')).action(
    (node: string, _o: unknown, cmd: Command) => where(cmd, node),
  );
  fleetOptions(
    fleet
      .command('logs')
      .argument('<node>', 'a hollow node')
      .option('-f, --follow', 'keep printing new lines')
      .description("that hollow node's lines of its pod's log"),
  ).action((node: string, o: { follow?: boolean }, cmd: Command) => logs(cmd, node, o.follow === true));
  fleetOptions(
    fleet
      .command('cleanup')
      .description('delete every object of the fleet: its pods and objects on the external cluster, its Node and Lease objects on the cluster under test'),
  ).action((_o: unknown, cmd: Command) => cleanup(cmd));

  fleet
    .command('runner', { hidden: true })
    .description("(in a runner pod) run this pod's slice of the plan")
    .requiredOption('--plan <file>')
    .requiredOption('--runner <file>')
    .requiredOption('--token-file <file>')
    .option('--bootstrap-token-file <file>')
    .option('--node-identity-file <file>')
    .action(async (o: { plan: string; runner: string; tokenFile: string; bootstrapTokenFile?: string; nodeIdentityFile?: string }, cmd: Command) => {
      const { log } = cliContext(cmd);
      const r = await interruptible(log, (signal) =>
        runPodRunner({
          planFile: o.plan,
          runnerFile: o.runner,
          tokenFile: o.tokenFile,
          ...(o.bootstrapTokenFile ? { bootstrapTokenFile: o.bootstrapTokenFile } : {}),
          ...(o.nodeIdentityFile ? { nodeIdentityFile: o.nodeIdentityFile } : {}),
          podName: process.env.POD_NAME,
          podIp: process.env.POD_IP,
          log,
          signal,
        }),
      );
      if (r.fatal) throw new EdgemarkError(r.fatal.code as 'EM_INTERNAL', r.fatal.message, r.fatal.fix);
    });
  fleet
    .command('probe', { hidden: true })
    .description('(in the setup Job) can this pod reach the cluster under test, with this token?')
    .requiredOption('--token-file <file>')
    .requiredOption('--cloudcore <host:port,...>')
    .option('--cloudcore-https <url,...>')
    .option('--apiserver <url>')
    .action(async (o: { tokenFile: string; cloudcore: string; cloudcoreHttps?: string; apiserver?: string }) => {
      const https = o.cloudcoreHttps?.split(',');
      const cc = cloudcoreAddresses(o.cloudcore).map((c, i) => ({ websocket: c.websocket, https: https?.[i] ?? c.https }));
      const r = await probe({ cloudcore: cc, apiserver: o.apiserver, token: readFileSync(o.tokenFile, 'utf8').trim() });
      for (const l of r.lines) process.stdout.write(`${l}\n`);
      if (!r.ok) process.exitCode = 1;
    });
}

async function setup(cmd: Command): Promise<void> {
  const env = envOf(cmd);
  const { log, ref } = env;
  const core = ref.kc.makeApiClient(k8s.CoreV1Api);
  try {
    await ref.kc.makeApiClient(k8s.VersionApi).getCode();
  } catch (err) {
    throw unreachable(ref.kc, err);
  }
  log.info(`ok    the external cluster ${ref.kc.getCurrentCluster()!.server} answers`);
  const authz = ref.kc.makeApiClient(k8s.AuthorizationV1Api);
  const needs: [string, string, string, string?][] = [
    ['create', 'apps', 'statefulsets'],
    ['delete', 'apps', 'statefulsets'],
    ['create', '', 'configmaps'],
    ['create', '', 'secrets'],
    ['create', '', 'services'],
    ['create', 'batch', 'jobs'],
    ['list', '', 'pods'],
    ['get', '', 'pods', 'log'],
    ['get', '', 'pods', 'proxy'],
  ];
  const missing: string[] = [];
  for (const [verb, group, resource, subresource] of needs) {
    const r = await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb, group, resource, namespace: ref.namespace, ...(subresource ? { subresource } : {}) } } },
    });
    if (!r.status?.allowed) missing.push(`${verb} ${group ? `${group}/` : ''}${resource}${subresource ? `/${subresource}` : ''}`);
  }
  if (missing.length) {
    throw new EdgemarkError(
      'EM_EXTERNAL_RBAC',
      `[fleet] the external cluster's credentials may not, in namespace ${ref.namespace}: ${missing.join(', ')}`,
      "bind a Role with these verbs to the kubeconfig's user (or use an admin kubeconfig)",
    );
  }
  log.info(`ok    RBAC: may ${needs.map((n) => `${n[0]} ${n[2]}${n[3] ? `/${n[3]}` : ''}`).join(', ')} in ${ref.namespace}`);
  const target = resolveTarget(env.flags, env.stateDir);
  const plan = planOf(target, 1, env.flags);
  const s = settingsOf(plan, env.flags, 1);
  await ensureNamespace(ref.kc, ref.namespace);
  const names = objectNames(env.flags.name);
  const job = probeJob(plan, s);
  const batch = ref.kc.makeApiClient(k8s.BatchV1Api);
  await batch.deleteNamespacedJob({ name: job.metadata.name, namespace: ref.namespace, propagationPolicy: 'Foreground' }).catch(() => undefined);
  await pollUntil(
    'the previous setup Job to go',
    async () =>
      await batch.readNamespacedJob({ name: job.metadata.name, namespace: ref.namespace }).then(
        () => undefined,
        (e: unknown) => (isNotFound(e) ? true : undefined),
      ),
    { timeoutMs: 60_000, intervalMs: 1000, prefix: '[fleet]' },
  );
  await applyObjects(ref.kc, [fleetObjects(plan, s, { token: await target.token() })[0]!, job]);
  log.info(`      connectivity Job ${job.metadata.name} (image ${s.image}, ${s.hostNetwork ? 'host network' : 'pod network'}) ...`);
  await interruptible(log, async (signal) => {
    let pod: k8s.V1Pod | undefined;
    const state = await pollUntil(
      'the connectivity Job',
      async () => {
        const pods = await core.listNamespacedPod({ namespace: ref.namespace, labelSelector: `job-name=${job.metadata.name}` });
        pod = pods.items[0];
        const cs = pod?.status?.containerStatuses?.[0];
        const w = cs?.state?.waiting?.reason;
        if (pod && w && /ErrImageNeverPull|ErrImagePull|ImagePullBackOff/.test(w)) {
          const e = explainWaiting({ name: pod.metadata!.name!, node: pod.spec?.nodeName, waiting: { reason: w, message: '' }, restarts: 0 }, s.image);
          throw e!;
        }
        const phase = pod?.status?.phase;
        return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
      },
      { timeoutMs: env.flags.wait * 1000, intervalMs: 1000, signal, prefix: '[fleet]' },
    );
    const out = await core.readNamespacedPodLog({ name: pod!.metadata!.name!, namespace: ref.namespace }).catch((e: Error) => `(no log: ${e.message})`);
    for (const l of String(out).trim().split('\n')) log.info(`      ${l}`);
    await batch.deleteNamespacedJob({ name: job.metadata.name, namespace: ref.namespace, propagationPolicy: 'Background' }).catch(() => undefined);
    await core.deleteNamespacedSecret({ name: names.token, namespace: ref.namespace }).catch(() => undefined);
    if (state === 'Failed') {
      throw new EdgemarkError(
        'EM_FLEET_CONNECTIVITY',
        `[fleet] the connectivity Job's pod on ${pod?.spec?.nodeName ?? '?'} cannot reach the cluster under test (the FAIL lines above)`,
        'give the pods a route to CloudCore and kube-apiserver (a Service or load-balancer address as --cloudcore, or --host-network where they listen on the node)',
      );
    }
  });
  log.info('setup: the external cluster can run the fleet');
}

async function create(cmd: Command, count: number): Promise<void> {
  const { log, stateDir } = cliContext(cmd);
  const flags = cmd.opts<FleetFlags>();
  if (flags.dryRun) {
    const target = resolveTarget(flags, stateDir);
    const plan = planOf(target, count, flags);
    const s = settingsOf(plan, flags);
    const objects = fleetObjects(plan, s, { token: '(the join token of the cluster under test, copied at create)' });
    if (flags.output === 'yaml') {
      process.stdout.write(objects.map((o) => stringify(o)).join('---\n'));
      return;
    }
    for (const l of fleetActions(plan, s, flags.externalKubeconfig ?? process.env.EDGEMARK_EXTERNAL_KUBECONFIG ?? '(--external-kubeconfig)')) log.info(l);
    return;
  }
  const env = envOf(cmd);
  const target = resolveTarget(flags, stateDir);
  const plan = planOf(target, count, flags);
  const s = settingsOf(plan, flags);
  const objects = fleetObjects(plan, s, { token: await target.token() });
  for (const l of fleetActions(plan, s, env.externalPath)) log.info(l);
  await ensureNamespace(env.ref.kc, s.namespace);
  await applyObjects(env.ref.kc, objects);
  const started = Date.now();
  await interruptible(log, (signal) => waitReady(env, { plan, pods: podCount(plan, s.nodesPerPod), image: s.image }, testedKube(target), signal));
  log.info(`fleet ${flags.name}: ${count} hollow nodes Ready in ${formatDuration(Date.now() - started)}`);
}

async function scale(cmd: Command, count: number): Promise<void> {
  const env = envOf(cmd);
  const stored = await requireFleet(env.ref);
  const target = resolveTarget(env.flags, env.stateDir);
  const g = stored.plan.groups[0]!;
  const plan = { ...stored.plan, groups: [{ ...g, count }, ...stored.plan.groups.slice(1)] };
  const s = { ...settingsOf(plan, { ...env.flags, prefix: g.prefix }, stored.runner.nodesPerPod), image: stored.image };
  const pods = podCount(plan, stored.runner.nodesPerPod);
  env.log.info(`fleet ${env.flags.name}: ${planNodeCount(stored.plan)} -> ${count} nodes, ${stored.pods} -> ${pods} pod(s) of ${stored.runner.nodesPerPod}`);
  // The plan first: new pods read it at start; pods that stay never re-read it.
  const [, configMap] = fleetObjects(plan, { ...s, hostNetwork: stored.runner.portPerOrdinal }, { token: '' });
  await applyObjects(env.ref.kc, [configMap!]);
  await env.ref.kc
    .makeApiClient(k8s.AppsV1Api)
    .patchNamespacedStatefulSetScale(
      { name: objectNames(env.flags.name).statefulSet, namespace: env.ref.namespace, body: { spec: { replicas: pods } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  const tested = testedKube(target);
  if (count < planNodeCount(stored.plan)) {
    // The nodes past the new end go with their pods: their Node and Lease objects too.
    const keep = new Set(nodeNames(plan));
    await deleteNodes(
      tested,
      nodeNames(stored.plan).filter((n) => !keep.has(n)),
    );
  }
  await interruptible(env.log, (signal) => waitReady(env, { plan, pods, image: stored.image }, tested, signal));
  env.log.info(`fleet ${env.flags.name}: ${count} hollow nodes Ready`);
}

/** Pod ordinal of a node of the plan (nodes o*K..o*K+K-1 are pod o's). */
function podOfNode(stored: StoredFleet, node: string): number {
  const i = nodeIndex(stored.plan, node);
  if (i === undefined) {
    const g = stored.plan.groups[0]!;
    throw new EdgemarkError(
      'EM_NODE_UNKNOWN',
      `[fleet] ${node} is not a node of this fleet`,
      `its nodes are ${g.prefix}0..${g.prefix}${planNodeCount(stored.plan) - 1}`,
    );
  }
  return Math.floor(i / stored.runner.nodesPerPod);
}

async function verify(cmd: Command): Promise<void> {
  const env = envOf(cmd);
  const stored = await requireFleet(env.ref);
  const target = resolveTarget(env.flags, env.stateDir);
  const pods = await runnerPods(env.ref);
  const nodes = await hollowNodes(testedKube(target), env.flags.name);
  const names = nodeNames(stored.plan);
  const notReady = names.filter((n) => !nodes.get(n));
  const podByOrdinal = new Map(pods.map((p) => [p.ordinal, p]));
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(
    `fleet ${env.flags.name}: ${names.length - notReady.length}/${names.length} hollow nodes Ready on ${target.name}; ${pods.filter((p) => p.ready).length}/${stored.pods} runner pods Ready`,
  );
  const dup = [...nodes.keys()].filter((n) => !names.includes(n));
  if (dup.length)
    out(
      `  ${dup.length} Node object(s) labelled ${FLEET_LABEL}=${env.flags.name} are not in the plan (left from a larger fleet?): ${dup.slice(0, 5).join(', ')}`,
    );
  if (notReady.length === 0 && pods.filter((p) => p.ready).length === stored.pods) return;
  const byPod = new Map<number, string[]>();
  for (const n of notReady) {
    const o = podOfNode(stored, n);
    byPod.set(o, [...(byPod.get(o) ?? []), n]);
  }
  for (const [o, list] of byPod) {
    const p = podByOrdinal.get(o);
    const where = p
      ? `pod ${p.name} (${p.phase}${p.ready ? ', Ready' : ''}${p.waiting ? `, ${p.waiting.reason}` : ''}) on ${p.node ?? `no node${p.unschedulable ? `: ${p.unschedulable}` : ''}`}`
      : `pod ${objectNames(env.flags.name).statefulSet}-${o} (missing)`;
    out(`  not Ready: ${list.length > 6 ? `${list.slice(0, 6).join(', ')} and ${list.length - 6} more` : list.join(', ')}: ${where}`);
    const why = p ? explainWaiting(p, stored.image) : undefined;
    if (why) out(`    ${why.message}; fix: ${why.fix}`);
  }
  out('troubleshooting:');
  out(`  pod logs:        kubectl logs -n ${env.ref.namespace} -l app.kubernetes.io/instance=${env.flags.name} --tail=50   (or: edgemark fleet logs <node>)`);
  out(`  the token:       kubectl get secret -n ${env.ref.namespace} ${objectNames(env.flags.name).token}   (re-copied by: edgemark fleet create)`);
  out('  connectivity:    edgemark fleet setup   (a Job that dials CloudCore and kube-apiserver from the pods)');
  process.exitCode = 1;
}

async function list(cmd: Command): Promise<void> {
  const env = envOf(cmd);
  const stored = await requireFleet(env.ref);
  const pods = await runnerPods(env.ref);
  const sums = await podSummaries(env.ref, stored.runner, pods);
  const g = stored.plan.groups[0]!;
  const k = stored.runner.nodesPerPod;
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`fleet ${env.flags.name}: ${planNodeCount(stored.plan)} nodes, ${stored.pods} pod(s) of ${k}, image ${stored.image}`);
  out('POD\tREADY\tSTATUS\tRESTARTS\tEXTERNAL NODE\tNODES\tREADY NODES');
  for (const p of pods) {
    const s = sums.get(p.name);
    out(
      `${p.name}\t${p.ready}\t${p.waiting?.reason ?? p.phase}\t${p.restarts}\t${p.node ?? '-'}\t${g.prefix}${p.ordinal * k}..${g.prefix}${p.ordinal * k + k - 1}\t${s ? (s.states.ready ?? 0) : '-'}`,
    );
  }
}

async function findPod(env: Env, node: string): Promise<{ stored: StoredFleet; pod: RunnerPod }> {
  const stored = await requireFleet(env.ref);
  const o = podOfNode(stored, node);
  const pod = (await runnerPods(env.ref)).find((p) => p.ordinal === o);
  if (!pod)
    throw new EdgemarkError(
      'EM_FLEET_NOT_READY',
      `[fleet] ${node} belongs to pod ${objectNames(env.flags.name).statefulSet}-${o}, which does not exist now`,
      'run `edgemark fleet verify`',
    );
  return { stored, pod };
}

async function where(cmd: Command, node: string): Promise<void> {
  const env = envOf(cmd);
  const { pod } = await findPod(env, node);
  process.stdout.write(
    `${node}: pod ${env.ref.namespace}/${pod.name}, container runner, external node ${pod.node ?? '(none)'}, pod IP ${pod.podIP ?? '(none)'}\n`,
  );
}

async function logs(cmd: Command, node: string, follow: boolean): Promise<void> {
  const env = envOf(cmd);
  const { pod } = await findPod(env, node);
  const mark = `node ${node}:`;
  const mine = (line: string) => line.includes(mark);
  if (!follow) {
    const text = String(
      await env.ref.kc.makeApiClient(k8s.CoreV1Api).readNamespacedPodLog({ name: pod.name, namespace: env.ref.namespace, container: 'runner' }),
    );
    for (const l of text.split('\n')) if (mine(l)) process.stdout.write(`${l}\n`);
    return;
  }
  const { Writable } = await import('node:stream');
  let rest = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (mine(l)) process.stdout.write(`${l}\n`);
      cb();
    },
  });
  await interruptible(env.log, async (signal) => {
    const req = await new k8s.Log(env.ref.kc).log(env.ref.namespace, pod.name, 'runner', sink, { follow: true });
    await new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => {
        req.abort();
        resolve();
      });
      sink.on('finish', () => resolve());
    });
  });
}

async function cleanup(cmd: Command): Promise<void> {
  const env = envOf(cmd);
  const target = resolveTarget(env.flags, env.stateDir);
  const tested = testedKube(target);
  // The pods go first (deleteFleet waits for them): a runner still running would register its nodes again.
  const problems = await deleteFleet(env.ref, { namespaceToo: true });
  // Then every Node of the fleet's label, whatever its plan said (a fleet scaled down, or one whose ConfigMap is gone).
  const nodes = [...(await hollowNodes(tested, env.flags.name)).keys()];
  problems.push(...(await deleteNodes(tested, nodes)));
  env.log.info(
    `fleet ${env.flags.name}: removed from ${env.externalPath} (namespace ${env.ref.namespace}) and ${nodes.length} Node and Lease object(s) from ${target.name}`,
  );
  if (problems.length) {
    for (const p of problems) env.log.warn(`not removed: ${p}`);
    process.exitCode = 1;
  }
}
