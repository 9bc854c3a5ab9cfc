/**
 * The real kubemark (cmd/kubemark of the pinned Kubernetes, built by
 * `edgemark setup --peers`): what comparing its objects with ours needs (the
 * field paths of an object, values aside), and N of it as a benchmark peer.
 */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { EdgemarkError } from '../../src/core/errors.js';
import { pollUntil } from '../../src/core/poll.js';
import { livePidsInGroups, signalGroup, terminateGroups } from '../../src/core/proc.js';

/** The newest kubemark binary in the build cache, or undefined when `setup --peers` has not built one. */
export function findKubemarkBinary(cacheDir: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(join(cacheDir, 'bin'));
  } catch {
    return undefined;
  }
  return entries
    .filter((e) => /^kubernetes-v[\d.]+-peers-[0-9a-f]+$/.test(e))
    .map((e) => join(cacheDir, 'bin', e, 'kubemark'))
    .filter((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    })
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/**
 * Every leaf path of an object (`.status.conditions[].reason`), values aside;
 * empty maps and lists are leaves too. Server-side bookkeeping
 * (metadata.managedFields, whose keys hold uids and times) is left out.
 */
export function fieldPaths(o: unknown, at = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(o)) {
    if (o.length === 0) out.add(`${at}[]`);
    for (const v of o) for (const p of fieldPaths(v, `${at}[]`)) out.add(p);
  } else if (o !== null && typeof o === 'object') {
    const entries = Object.entries(o).filter(([k]) => !(at === '.metadata' && k === 'managedFields'));
    if (entries.length === 0) out.add(`${at}{}`);
    for (const [k, v] of entries) for (const p of fieldPaths(v, `${at}.${k}`)) out.add(p);
  } else out.add(at);
  return out;
}

export interface PathDifference {
  object: string;
  path: string;
  /** Which side has it. */
  only: 'kubemark' | 'edgemark';
  why: string;
}

/** Paths one side has and the other lacks, by object. */
export function pathDifferences(object: string, kubemark: unknown, ours: unknown): Omit<PathDifference, 'why'>[] {
  const a = fieldPaths(kubemark);
  const b = fieldPaths(ours);
  return [
    ...[...a].filter((p) => !b.has(p)).map((path) => ({ object, path, only: 'kubemark' as const })),
    ...[...b].filter((p) => !a.has(p)).map((path) => ({ object, path, only: 'edgemark' as const })),
  ].sort((x, y) => x.path.localeCompare(y.path));
}

/**
 * N real kubemark hollow kubelets (`--morph=kubelet`) as a benchmark peer, one
 * process per node, each in its own network and mount namespace (`unshare
 * --net --mount`), against a kube-apiserver on the host's 127.0.0.1.
 *
 * Why the namespaces: each kubemark serves the kubelet's ports (10250, the
 * read-only 10255, healthz 10248) and makes its root dir as
 * /tmp/hollow-kubelet.<random> whatever TMPDIR says (and the kubelet its
 * /var/log/pods). In its namespaces an instance has its own ports, and fresh
 * tmpfs over /tmp, /var/log and /var/lib, which vanish with its last process;
 * /etc/hosts is bind-mounted from the instance's directory, so that the node
 * name resolves to the instance's own address (a /32 on its `lo`), which the
 * kubelet takes as its InternalIP.
 *
 * The apiserver stays on the host's loopback: in each namespace a socat
 * listens on 127.0.0.1:<port> and relays to a UNIX socket in the work dir;
 * on the host one socat relays that socket to 127.0.0.1:<port>, so the
 * serving certificate (issued for 127.0.0.1) holds. Each instance has its own
 * identity: a client certificate for system:node:<name> (group system:nodes)
 * signed by the cluster CA, as the Node authorizer expects of a kubelet.
 *
 * The work dir must not be under /tmp (hidden by the tmpfs in the namespace).
 * Every process runs in a process group of its own; stop() ends them all
 * (SIGTERM, then SIGKILL after a bound), checks none is left, and removes the
 * per-instance directories (logs kept). Needs root.
 */
export interface KubemarkPeerOptions {
  binary: string;
  count: number;
  /** Node names are <prefix><i>. */
  prefix: string;
  /** kube-apiserver's port on the host's 127.0.0.1. */
  apiserverPort: number;
  /** PEM of the cluster CA (the kubeconfig's certificate-authority-data). */
  caPem: string;
  /** A client certificate and key (PEM) for the node's name, made by the caller. */
  identity: (name: string) => Promise<{ certPem: string; keyPem: string }>;
  workDir: string;
  log?: (line: string) => void;
  /** Pause between two instance starts; default 200 ms. */
  startIntervalMs?: number;
}

export interface KubemarkPeer {
  pids(): number[];
  names(): string[];
  stop(): Promise<void>;
}

export interface KubemarkScriptParams {
  ip: string;
  apiserverPort: number;
  sock: string;
  hostsFile: string;
  binary: string;
}

/** What runs in the instance's fresh namespaces before it becomes kubemark. Pure, so a fast test pins it. */
export function kubemarkScript(p: KubemarkScriptParams): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `${[
    'set -eu',
    'ip link set lo up',
    `ip addr add ${p.ip}/32 dev lo`,
    'mount -t tmpfs -o mode=1777 tmpfs /tmp',
    'mount -t tmpfs tmpfs /var/log',
    'mount -t tmpfs tmpfs /var/lib',
    `mount --bind ${q(p.hostsFile)} /etc/hosts`,
    `socat TCP-LISTEN:${p.apiserverPort},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${q(p.sock)} </dev/null &`,
    `port=$(printf '0100007F:%04X' ${p.apiserverPort}); n=0`,
    'until grep -q " $port 00000000:0000 0A" /proc/net/tcp; do',
    '  n=$((n+1)); [ $n -lt 100 ] || { echo "the in-namespace forwarder did not listen" >&2; exit 1; }; sleep 0.05',
    'done',
    `exec ${q(p.binary)} "$@"`,
  ].join('\n')}\n`;
}

/** 10.251.x.y, distinct per instance. */
export function kubemarkIp(i: number): string {
  const n = i + 1;
  return `10.251.${(n >> 8) & 255}.${n & 255}`;
}

export async function startKubemarkPeer(o: KubemarkPeerOptions): Promise<KubemarkPeer> {
  const log = o.log ?? (() => {});
  const fail = (why: string, fix: string) => new EdgemarkError('EM_PEER_START_FAILED', `[kubemark] ${why}`, fix);
  if (process.getuid?.() !== 0)
    throw new EdgemarkError('EM_PEER_UNSUPPORTED', '[kubemark] needs root (unshare --net --mount, mount)', 'run the benchmark as root');
  const workDir = resolve(o.workDir);
  if (workDir === '/tmp' || workDir.startsWith('/tmp/'))
    throw new EdgemarkError(
      'EM_PEER_INVALID',
      `[kubemark] the work dir ${workDir} is under /tmp, which each instance covers with its own tmpfs`,
      'pass a work dir elsewhere, such as /var/tmp',
    );
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const sock = join(workDir, 'api.sock');
  if (sock.length > 100) throw new EdgemarkError('EM_PEER_INVALID', `[kubemark] ${sock} is too long for a UNIX socket`, 'use a shorter work dir');
  const groups = new Set<number>();
  const instances: { name: string; dir: string; pid?: number; exited: boolean }[] = [];
  let stopping = false;
  const killAll = () => {
    for (const g of groups) signalGroup(g, 'SIGKILL');
  };
  process.on('exit', killAll);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      const own = new Set(instances.flatMap((x) => (x.pid === undefined ? [] : [x.pid])));
      await terminateGroups(own, 10_000, { onKill: (left) => log(`kubemark: ${left.length} process(es) still running 10 s after SIGTERM; SIGKILL`) });
      await terminateGroups(groups, 10_000, {});
      process.removeListener('exit', killAll);
      const left = livePidsInGroups(groups);
      if (left.length)
        throw new EdgemarkError(
          'EM_PEER_STOP_INCOMPLETE',
          `[kubemark] stop left ${left.length} process(es): ${left.join(' ')}`,
          'find them with `ps -o pid,pgid,cmd` and stop them',
        );
      for (const x of instances) rmSync(x.dir, { recursive: true, force: true });
      rmSync(sock, { force: true });
      log(`kubemark: stopped ${instances.length} instance(s); logs kept in ${workDir}`);
    })());
  try {
    const fwdLog = openSync(join(workDir, 'forwarder.log'), 'a', 0o600);
    const host = spawn('socat', [`UNIX-LISTEN:${sock},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${o.apiserverPort},nodelay`], {
      detached: true,
      stdio: ['ignore', fwdLog, fwdLog],
    });
    closeSync(fwdLog);
    if (host.pid === undefined) throw fail('could not start socat', 'install socat (apt-get install -y socat)');
    groups.add(host.pid);
    await pollUntil('the host forwarder to listen', () => existsSync(sock) || undefined, { timeoutMs: 5000, intervalMs: 50, prefix: '[kubemark]' });
    for (let i = 0; i < o.count; i++) {
      const name = `${o.prefix}${i}`;
      const dir = join(workDir, name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const inst: (typeof instances)[number] = { name, dir, exited: false };
      instances.push(inst);
      const ip = kubemarkIp(i);
      writeFileSync(join(dir, 'hosts'), `127.0.0.1\tlocalhost\n${ip}\t${name}\n`);
      const id = await o.identity(name);
      writeFileSync(join(dir, 'ca.crt'), o.caPem);
      writeFileSync(join(dir, 'node.crt'), id.certPem);
      writeFileSync(join(dir, 'node.key'), id.keyPem, { mode: 0o600 });
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'local', cluster: { server: `https://127.0.0.1:${o.apiserverPort}`, 'certificate-authority': join(dir, 'ca.crt') } }],
          users: [{ name, user: { 'client-certificate': join(dir, 'node.crt'), 'client-key': join(dir, 'node.key') } }],
          contexts: [{ name: 'local', context: { cluster: 'local', user: name } }],
          'current-context': 'local',
        }),
        { mode: 0o600 },
      );
      const script = kubemarkScript({ ip, apiserverPort: o.apiserverPort, sock, hostsFile: join(dir, 'hosts'), binary: o.binary });
      const fd = openSync(join(workDir, `${name}.log`), 'w', 0o600);
      const child = spawn(
        'unshare',
        [
          '--net',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          script,
          'kubemark-ns',
          '--morph=kubelet',
          `--name=${name}`,
          `--kubeconfig=${kubeconfig}`,
          '--use-host-image-service=false',
          '--v=0',
        ],
        { detached: true, stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      if (child.pid === undefined) throw fail(`could not spawn unshare for ${name}`, `see ${join(workDir, `${name}.log`)}`);
      inst.pid = child.pid;
      groups.add(child.pid);
      child.on('exit', (code, sig) => {
        inst.exited = true;
        if (!stopping) log(`kubemark: ${name} exited (${sig ?? code}); log: ${join(workDir, `${name}.log`)}`);
      });
      if (i + 1 < o.count) await new Promise((r) => setTimeout(r, o.startIntervalMs ?? 200));
    }
    const dead = instances.find((x) => x.exited);
    if (dead) throw fail(`${dead.name} exited during start`, `read ${join(workDir, `${dead.name}.log`)}`);
    log(`kubemark: ${o.count} instance(s) ${o.prefix}0..${o.count - 1} -> kube-apiserver 127.0.0.1:${o.apiserverPort} (work dir ${workDir})`);
  } catch (err) {
    await stop().catch((e: unknown) => log(String(e)));
    throw err;
  }
  return {
    pids: () => instances.filter((x) => !x.exited && x.pid !== undefined).map((x) => x.pid!),
    names: () => instances.map((x) => x.name),
    stop,
  };
}
