/**
 * A real worker node on the local cluster: `cluster up --workers 1` gives a
 * Ready node whose pods run in containerd with an address from the worker's
 * pod subnet; the apiserver reaches its kubelet (node proxy, pod logs); and
 * `cluster down` leaves no process, mount, link, namespace, cgroup or address
 * reservation of it behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import type { WorkerRecord } from '../../src/cluster/state.js';
import { parseCidr } from '../../src/cluster/worker/layout.js';
import { workerNodeName } from '../../src/cluster/worker/worker.js';
import { writeImageArchive } from '../../src/image/archive.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { runCli, upTestCluster, type TestCluster } from './harness.js';

const NS = 'em-worker-it';
const IMAGE = 'localhost/edgemark-worker-test:1';
const GREETING = 'hello from a real worker node';

let cluster: TestCluster | undefined;
let worker: WorkerRecord;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let downDone = false;
const scratch = mkdtempSync(join(tmpdir(), 'em-worker-img-'));
/** `ip netns add` makes /run/netns (a mount of itself) on first use; down removes it when it made it. */
const runNetnsBefore = existsSync('/run/netns');

before(async () => {
  const c = await upTestCluster(['--workers', '1']);
  cluster = c;
  process.stdout.write(`# cluster up --workers 1 took ${(c.up.ms / 1000).toFixed(1)}s\n`);
  const w = c.state().workers?.[0];
  assert.ok(w, 'the state file records the worker');
  worker = w;
  kc = loadKubeConfig(c.state().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
});

after(async () => {
  if (cluster && !downDone) await cluster.down();
  rmSync(scratch, { recursive: true, force: true });
});

test('more workers than one machine runs are refused before anything starts, with the reason', async () => {
  const stateDir = join(scratch, 'refused');
  const r = await runCli(['--state-dir', stateDir, 'cluster', 'up', '--ports', 'auto', '--workers', '2'], { timeoutMs: 60_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /EM_WORKER_NODE_COUNT/);
  assert.match(r.stderr, /at most 1 real worker node: each worker is a kubelet/);
  assert.equal(existsSync(stateDir), false, 'nothing was started or written');
});

test('the worker node is Ready, labelled, named as the library says, and shown by status', async () => {
  assert.equal(workerNodeName(cluster!.state()), 'edgemark-worker-0');
  const node = await core.readNode({ name: worker.name });
  assert.equal(node.metadata?.labels?.['edgemark.io/worker'], 'true');
  assert.equal(node.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  assert.deepEqual(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, worker.hostIp);
  const r = await runCli([...cluster!.args, 'cluster', 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { workers: { name: string; ready: boolean; kubeletPid: number; containerdPid: number }[] };
  assert.equal(s.workers.length, 1);
  assert.ok(s.workers[0]!.ready && s.workers[0]!.kubeletPid > 0 && s.workers[0]!.containerdPid > 0, JSON.stringify(s.workers));
  const table = await runCli([...cluster!.args, 'cluster', 'status']);
  assert.match(table.stdout, /edgemark-worker-0\s+\d+\s+\d+\s+[\d.]+:\d+\s+[\d./]+\s+node Ready/);
});

test('the apiserver reaches the kubelet at the node address (node proxy /healthz)', async () => {
  const body = await core.connectGetNodeProxyWithPath({ name: worker.name, path: 'healthz' });
  assert.equal(String(body).trim(), 'ok');
});

/** A shell, sleep and their libraries from this machine: an image whose container prints. */
async function buildTestImage(): Promise<string> {
  const files = ['/bin/sh', '/bin/sleep', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2'];
  const archive = join(scratch, 'test-image.tar');
  await writeImageArchive(
    {
      name: IMAGE,
      layers: [files.map((path) => ({ path, source: realpathSync(path), mode: 0o755 }))],
      entrypoint: ['/bin/sh', '-c'],
    },
    archive,
  );
  return archive;
}

test('a pod runs on the worker with an address from its subnet, and its log is read through the apiserver', async () => {
  const archive = await buildTestImage();
  const imported = await runCli([...cluster!.args, 'cluster', 'import-image', archive]);
  assert.equal(imported.code, 0, imported.stderr);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const started = Date.now();
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'printer' },
      spec: {
        nodeName: worker.name,
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'c', image: IMAGE, imagePullPolicy: 'Never', args: [`echo '${GREETING}'; exec sleep 3600`] }],
      },
    },
  });
  const pod = await waitFor(
    'pod printer to run',
    async () => {
      const p = await core.readNamespacedPod({ name: 'printer', namespace: NS });
      return p.status?.phase === 'Running' ? p : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  process.stdout.write(`# pod Running after ${((Date.now() - started) / 1000).toFixed(1)}s at ${pod.status?.podIP}\n`);
  const subnet = parseCidr(worker.podSubnet)!;
  const ip = parseCidr(pod.status?.podIP ?? '')!;
  assert.ok(ip && ip.base >>> 8 === subnet.base >>> 8, `${pod.status?.podIP} in ${worker.podSubnet}`);
  const log = await waitFor(
    'the container to print',
    async () => {
      const text = await core.readNamespacedPodLog({ name: 'printer', namespace: NS, container: 'c' });
      return text.includes(GREETING) ? text : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  assert.match(log, new RegExp(GREETING));
  // Its address is reserved by host-local under the state directory, not /var/lib/cni.
  assert.ok(existsSync(join(worker.dir, 'cni', 'ipam', worker.network, pod.status!.podIP!)));
});

test('down removes the worker: no process, mount, link, netns, cgroup or reservation of it is left', async () => {
  const socket = join(worker.dir, 'run', 'containerd.sock');
  const r = await runCli([...cluster!.args, 'cluster', 'down', '--purge'], { timeoutMs: 120_000 });
  downDone = true;
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.match(r.stdout + r.stderr, /1 pod\(s\), torn down by the kubelet/);
  assert.doesNotMatch(r.stdout + r.stderr, /reservation\(s\) the kubelet had not released|could not/);

  // Processes: containerd, the kubelet, shims (by our socket in their argv), containers (by our cgroup).
  for (let i = 0; i < 20 && leftoverPids(socket).length > 0; i++) await sleep(100);
  assert.deepEqual(leftoverPids(socket), []);
  assert.equal(existsSync(`/sys/fs/cgroup/memory${worker.cgroupRoot}`), false);
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(cluster!.stateDir), 'no mount under the state directory');
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  for (const name of [worker.vethHost, worker.vethNode, worker.bridge])
    assert.ok(!links.includes(`${name}:`) && !links.includes(`${name}@`), `${name} deleted`);
  assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(worker.netns), `${worker.netns} deleted`);
  assert.ok(!execFileSync('ip', ['-4', 'addr'], { encoding: 'utf8' }).includes(worker.hostIp), `${worker.hostIp} released`);
  assert.equal(existsSync(cluster!.stateDir), false, 'purged with its reservations and containerd state');
  if (existsSync('/var/lib/cni/networks')) assert.ok(!readdirSync('/var/lib/cni/networks').includes(worker.network));
  if (!runNetnsBefore) assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(' /run/netns '), '/run/netns unmounted');
});

function leftoverPids(socket: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const cg = readFileSync(`/proc/${e}/cgroup`, 'utf8');
      if (argv.includes(socket) || argv.includes(worker.dir) || cg.includes(worker.cgroupRoot)) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}
