/**
 * bench/lib/kubeedge-edgemark: N instances of KubeEdge's own hollow edgecore
 * (`edge/cmd/edgemark` of KubeEdge v1.23.1) as a benchmark peer against a
 * CloudCore that listens on 127.0.0.1 of the host network namespace only.
 *
 * Why each instance gets its own namespaces (read from the v1.23.1 source):
 * - edgemark takes only --token, --name, --http-server, --websocket-server and
 *   --node-labels (plus klog/global flags); everything else is edgecore's
 *   default config: the database is `/edgecore.db` (with SQLite's journal next
 *   to it, in `/`), certificates go to /etc/kubeedge/{ca,certs}, static pods to
 *   /etc/kubeedge/manifests, the kubelet root is /var/lib/kubelet, pod logs
 *   /var/log/pods, and the fake CRI listens on /tmp/kubelet_remote_<rand>.sock;
 * - its kubelet serves the read-only port on 127.0.0.1:10350 (no 10250, no
 *   healthz port) and edged polls it to decide that the kubelet is up.
 * So every instance runs in its own network namespace (own 127.0.0.1:10350)
 * and its own mount namespace, chrooted into `<workDir>/<name>/root`: `/` (and
 * with it /edgecore.db, /etc/kubeedge, /var/lib/kubelet, /var/log, /tmp) is a
 * per-instance directory, and only /usr (plus /bin, /lib... when they are real
 * directories), /sys and the binary's directory are bind-mounted read-only,
 * /dev is bind-mounted, /proc is a fresh procfs. Mounts are private to the
 * instance's namespace and vanish with its last process. Needs root.
 *
 * CloudCore stays on the host's loopback. In each namespace a socat listens on
 * 127.0.0.1:<wsPort> and 127.0.0.1:<httpsPort> and relays to a UNIX socket in
 * `<workDir>/sock` (or a short directory under the temp dir when that path is
 * too long); on the host one socat per port relays that socket to
 * 127.0.0.1:<port>. edgemark dials 127.0.0.1, so CloudCore's serving
 * certificate (issued for 127.0.0.1) stays valid. socat forks one process per
 * connection on each side; HTTPS connections idle for 30 s are closed.
 *
 * The node's InternalIP: the namespace has no interface but `lo`, so a /32
 * (10.250.x.y) is added to `lo` and the node name resolves to it through the
 * instance's own /etc/hosts (the kubelet takes it from a lookup of the node name).
 *
 * The released v1.23.1 edgemark does not start (anywhere, not only here): its
 * main calls kubelet's RunKubelet with hand-made Dependencies that lack
 * TracerProvider (nil dereference in NewMainKubelet, kubelet.go:494) and the
 * Pod/NodeStartupLatencyTracker (nil dereference in registerWithAPIServer), and
 * it registers the modules before dao.Init (metamanager's MetaService keeps a nil
 * *gorm.DB). A start that dies this way fails with that explanation.
 * `edgemark setup --peers` therefore also builds `edgemark-startfix`: the same
 * package with those three things set (a go build overlay, see
 * src/cluster/pins.ts). Any binary with edgemark's flags works here.
 *
 * Every process started here (edgemark, the in-namespace forwarders and their
 * per-connection children, the host forwarders) runs in a process group of its
 * own; stop() sends SIGTERM to those groups, SIGKILL after a bound, waits until
 * none of their processes remain, then removes the per-instance roots (logs in
 * `<workDir>/<name>.log` are kept).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants as fsc,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from '../../src/core/errors.js';
import { tailLines } from '../../src/core/files.js';
import { pollUntil } from '../../src/core/poll.js';
import { livePidsInGroups, signalGroup, terminateGroups } from '../../src/core/proc.js';

export interface PeerOptions {
  /** Path of KubeEdge's edgemark binary (see findEdgemarkBinary). */
  binary: string;
  /** Number of hollow edge nodes (one edgemark process each). */
  count: number;
  /** CloudCore's join token (Secret kubeedge/tokensecret, key tokendata). */
  token: string;
  /** CloudHub websocket port on the host's 127.0.0.1. */
  wsPort: number;
  /** CloudHub HTTPS (certificate) port on the host's 127.0.0.1. */
  httpsPort: number;
  /** Directory for per-instance roots, logs and sockets; created if missing. */
  workDir: string;
  /** Node names are `<prefix><i>`, i from 0; default `ke-edgemark-`. */
  prefix?: string;
  /** Extra node labels (edgemark's --node-labels). */
  labels?: Record<string, string>;
  log?: (line: string) => void;
  /** Pause between two instance starts; default 100 ms. */
  startIntervalMs?: number;
  /** After every instance exec'd edgemark, how long none may exit for the start to count; default 3000 ms. */
  settleMs?: number;
}

export interface PeerFleet {
  /** The edgemark processes still running (not the forwarders). */
  pids(): number[];
  /** Node names, in instance order. */
  names(): string[];
  /** Stops every process started, waits until none remains, removes the per-instance roots. */
  stop(): Promise<void>;
}

const DEFAULT_PREFIX = 'ke-edgemark-';
/** Subsystem prefix of this peer's messages. */
const PREFIX = '[kubeedge-edgemark]';
/** Top-level host directories that the chroot needs for a dynamically linked binary. */
const SYSTEM_DIRS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
const STOP_GRACE_MS = 10_000;
const START_TIMEOUT_MS = 20_000;
/**
 * edgemark keeps its two certificate connections (GET /ca.crt, POST /edge.crt)
 * open as idle keep-alives; without an idle bound that is two more socat pairs
 * per instance for ever. The websocket has its own 15 s keepalive and no bound.
 */
const HTTPS_IDLE_S = 30;

/**
 * An edgemark binary of KubeEdge v1.23.1 built by `edgemark setup --peers`:
 * `<cacheDir>/bin/kubeedge-v1.23.1-peers-<key>/<name>` (the newest one when
 * several keys exist; half-built `.tmp-*` directories are skipped). `edgemark`
 * is the release as published (it panics at start, see above);
 * `edgemark-startfix` is the same package with the three initialisations added
 * (src/cluster/pins.ts, edgemarkStartFix), which is what the benchmark runs.
 */
export function findEdgemarkBinary(cacheDir: string, name: 'edgemark' | 'edgemark-startfix' = 'edgemark-startfix'): string | undefined {
  const binDir = join(cacheDir, 'bin');
  let entries: string[];
  try {
    entries = readdirSync(binDir);
  } catch {
    return undefined;
  }
  const found = entries
    .filter((e) => /^kubeedge-v1\.23\.1-peers-[0-9a-f]+$/.test(e))
    .map((e) => join(binDir, e, name))
    .filter((p) => isExecutable(p))
    .map((p) => ({ p, mtime: statSync(p).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  return found[0]?.p;
}

interface Instance {
  name: string;
  dir: string;
  root: string;
  logFile: string;
  child?: ChildProcess;
  pid?: number;
  exited: boolean;
}

export async function startKubeEdgeEdgemark(o: PeerOptions): Promise<PeerFleet> {
  const log = o.log ?? (() => {});
  const prefix = o.prefix ?? DEFAULT_PREFIX;
  checkPreconditions(o);

  const workDir = resolve(o.workDir);
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  let sockDir = join(workDir, 'sock');
  let ownSockDir = false;
  if (join(sockDir, 'https.sock').length > 100) {
    // UNIX socket paths are limited to 108 bytes.
    sockDir = mkdtempSync(join(tmpdir(), 'kem-'));
    ownSockDir = true;
  }
  mkdirSync(sockDir, { recursive: true, mode: 0o700 });
  const wsSock = join(sockDir, 'ws.sock');
  const httpsSock = join(sockDir, 'https.sock');

  const groups = new Set<number>(); // process-group ids = pids of the processes we spawned
  const hostForwarders: ChildProcess[] = [];
  const instances: Instance[] = [];
  let stopping = false;
  let stopped: Promise<void> | undefined;

  const killAllNow = () => {
    for (const g of groups) signalGroup(g, 'SIGKILL');
  };
  process.on('exit', killAllNow);

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      // Instances first (edgemark and its in-namespace forwarders), so that their
      // connections are not cut under them, then the host forwarders.
      const instanceGroups = new Set(instances.flatMap((x) => (x.pid === undefined ? [] : [x.pid])));
      const onKill = (left: number[]) => log(`kubeedge-edgemark: ${left.length} process(es) still running ${STOP_GRACE_MS / 1000}s after SIGTERM; SIGKILL`);
      await terminateGroups(instanceGroups, STOP_GRACE_MS, { onKill });
      await terminateGroups(groups, STOP_GRACE_MS, { onKill });
      const remaining = livePidsInGroups(groups);
      process.removeListener('exit', killAllNow);
      // The mounts live in the instances' mount namespaces and go with their last
      // process; never delete through a mount that is visible here.
      const mounted = mountPointsUnder(workDir);
      if (remaining.length > 0 || mounted.length > 0) {
        throw new EdgemarkError(
          'EM_PEER_STOP_INCOMPLETE',
          `[kubeedge-edgemark] stop left ${remaining.length} process(es) [${remaining.join(' ')}] and ${mounted.length} mount(s) under ${workDir}; per-instance roots kept`,
          `find what holds them (\`ps -o pid,pgid,cmd\`, \`grep ${workDir} /proc/self/mountinfo\`), stop it, then remove the work dir`,
        );
      }
      for (const inst of instances) rmSync(inst.dir, { recursive: true, force: true });
      if (ownSockDir) rmSync(sockDir, { recursive: true, force: true });
      else {
        rmSync(wsSock, { force: true });
        rmSync(httpsSock, { force: true });
      }
      log(`kubeedge-edgemark: stopped ${instances.length} instance(s); logs kept in ${workDir}`);
    })();
    return stopped;
  };

  try {
    // Host side: one forwarder per port, UNIX socket -> host 127.0.0.1:<port>.
    const fwdLog = openSync(join(workDir, 'forwarders.log'), 'a');
    try {
      for (const [sock, port] of [
        [wsSock, o.wsPort],
        [httpsSock, o.httpsPort],
      ] as const) {
        const idle = port === o.httpsPort ? ['-T', String(HTTPS_IDLE_S)] : [];
        const child = spawn('socat', [...idle, `UNIX-LISTEN:${sock},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${port},nodelay`], {
          detached: true,
          stdio: ['ignore', fwdLog, fwdLog],
        });
        child.on('error', (e) => log(`kubeedge-edgemark: socat for ${sock}: ${e.message}`));
        if (child.pid === undefined)
          throw new EdgemarkError('EM_PEER_START_FAILED', `[kubeedge-edgemark] could not start socat for ${sock}`, 'see forwarders.log in the work dir');
        groups.add(child.pid);
        hostForwarders.push(child);
        child.on('exit', (code, sig) => {
          if (!stopping) log(`kubeedge-edgemark: host forwarder ${sock} -> 127.0.0.1:${port} exited (${sig ?? code})`);
        });
      }
    } finally {
      closeSync(fwdLog);
    }
    await pollUntil('host forwarders to listen', () => (existsSync(wsSock) && existsSync(httpsSock)) || undefined, {
      timeoutMs: 5_000,
      intervalMs: 50,
      prefix: PREFIX,
    });

    const binDir = dirname(resolve(o.binary));
    const binName = basename(o.binary);
    const systemDirs = realSystemDirs();
    const labelArg = Object.entries(o.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');

    for (let i = 0; i < o.count; i++) {
      const name = `${prefix}${i}`;
      const dir = join(workDir, name);
      const inst: Instance = { name, dir, root: join(dir, 'root'), logFile: join(workDir, `${name}.log`), exited: false };
      instances.push(inst);
      const ip = nodeIp(i);
      prepareRoot(inst.root, name, ip);

      const script = namespaceScript({ root: inst.root, ip, binDir, binName, wsPort: o.wsPort, httpsPort: o.httpsPort, wsSock, httpsSock, systemDirs });
      const args = [`--token=${o.token}`, `--name=${name}`, `--http-server=https://127.0.0.1:${o.httpsPort}`, `--websocket-server=127.0.0.1:${o.wsPort}`];
      if (labelArg) args.push(`--node-labels=${labelArg}`);
      const fd = openSync(inst.logFile, 'w', 0o600);
      try {
        // unshare execs sh, which execs chroot, which execs edgemark: the pid is edgemark's.
        const child = spawn('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', script, 'edgemark-ns', ...args], {
          detached: true,
          stdio: ['ignore', fd, fd],
        });
        child.on('error', (e) => log(`kubeedge-edgemark: ${name}: ${e.message}`));
        if (child.pid === undefined)
          throw new EdgemarkError('EM_PEER_START_FAILED', `[kubeedge-edgemark] could not spawn unshare for ${name}`, `see ${inst.logFile}`);
        inst.child = child;
        inst.pid = child.pid;
        groups.add(child.pid);
        child.on('exit', (code, sig) => {
          inst.exited = true;
          if (!stopping) log(`kubeedge-edgemark: ${name} (pid ${inst.pid}) exited (${sig ?? code}); log: ${inst.logFile}`);
        });
      } finally {
        closeSync(fd);
      }
      if (i + 1 < o.count) await sleep(o.startIntervalMs ?? 100);
    }

    // Started means: every instance got through its mounts and forwarders, exec'd
    // edgemark, and is still running after a settle time (the known crashes of the
    // released binary all come within about a second).
    const comm = binName.slice(0, 15);
    const checkExited = () => {
      const failed = instances.find((x) => x.exited);
      if (failed) {
        throw new EdgemarkError(
          'EM_PEER_START_FAILED',
          `[kubeedge-edgemark] ${failed.name} exited during start; last lines of ${failed.logFile}:`,
          knownCrash(failed.logFile) || `read ${failed.logFile}`,
          { details: tailLines(failed.logFile, 15) },
        );
      }
    };
    await pollUntil(
      `${o.count} edgemark processes to start`,
      () => {
        checkExited();
        return instances.every((x) => x.pid !== undefined && readComm(x.pid) === comm) || undefined;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 50, prefix: PREFIX },
    );
    const settleUntil = Date.now() + (o.settleMs ?? 3_000);
    while (Date.now() < settleUntil) {
      checkExited();
      await sleep(100);
    }
    checkExited();
    log(
      `kubeedge-edgemark: ${o.count} instance(s) ${prefix}0..${o.count - 1} -> CloudHub 127.0.0.1:${o.wsPort}, https 127.0.0.1:${o.httpsPort} (work dir ${workDir})`,
    );
  } catch (err) {
    await stop().catch((e: unknown) => log(String(e)));
    throw err;
  }

  return {
    pids: () => instances.filter((x) => !x.exited && x.pid !== undefined).map((x) => x.pid as number),
    names: () => instances.map((x) => x.name),
    stop,
  };
}

function checkPreconditions(o: PeerOptions): void {
  const unsupported = (why: string, fix: string) => new EdgemarkError('EM_PEER_UNSUPPORTED', `${PREFIX} ${why}`, fix);
  const invalid = (why: string, fix: string) => new EdgemarkError('EM_PEER_INVALID', `${PREFIX} ${why}`, fix);
  if (process.platform !== 'linux') throw unsupported('Linux only (network and mount namespaces)', 'run the peer benchmark on Linux');
  if (process.getuid?.() !== 0) throw unsupported('needs root (unshare --net --mount, mount, chroot)', 'run the benchmark as root');
  if (!Number.isInteger(o.count) || o.count < 1) throw invalid(`count must be a positive integer, got ${o.count}`, 'pass count >= 1');
  for (const [k, v] of [
    ['wsPort', o.wsPort],
    ['httpsPort', o.httpsPort],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535)
      throw invalid(`${k} must be a port, got ${v}`, `pass CloudHub's ${k === 'wsPort' ? 'websocket' : 'HTTPS'} port`);
  }
  if (!o.token) throw invalid('token is empty', 'pass the join token (secret kubeedge/tokensecret, key tokendata)');
  if (!isExecutable(o.binary)) throw invalid(`${o.binary} is not an executable file`, 'build it with `edgemark setup --peers`');
  const missing = ['unshare', 'socat', 'ip', 'mount', 'chroot', 'sh'].filter(
    (t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length > 0) throw unsupported(`missing tool(s): ${missing.join(', ')}`, 'install them (socat: apt-get install -y socat)');
  const prefix = o.prefix ?? DEFAULT_PREFIX;
  if (!/^[a-z0-9]([-a-z0-9.]*)$/.test(`${prefix}0`))
    throw invalid(`prefix ${JSON.stringify(prefix)} does not make valid node names`, 'use lower-case letters, digits, - and .');
  for (const [k, v] of Object.entries(o.labels ?? {})) {
    if (/[,=\s]/.test(k) || /[,=\s]/.test(v))
      throw invalid(`label ${k}=${v} cannot be passed in --node-labels`, 'drop commas, = and spaces from label keys and values');
  }
}

/** 10.250.x.y, distinct per instance (the /32 added to the namespace's lo). */
function nodeIp(i: number): string {
  const n = i + 1;
  return `10.250.${(n >> 8) & 255}.${n & 255}`;
}

/** The instance's `/`, made on the host side: empty mount points, its own /etc, /tmp, /var, /run. */
function prepareRoot(root: string, name: string, ip: string): void {
  rmSync(dirname(root), { recursive: true, force: true });
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (const d of SYSTEM_DIRS) {
    const host = `/${d}`;
    let st: Stats;
    try {
      st = lstatSync(host);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(host), join(root, d));
    else if (st.isDirectory()) mkdirSync(join(root, d));
  }
  for (const d of ['proc', 'sys', 'dev', 'opt/edgemark', 'etc/kubeedge', 'var/lib/kubelet', 'var/lib/kubeedge', 'var/log', 'run', 'root']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
  symlinkSync('../run', join(root, 'var/run'));
  writeFileSync(join(root, 'etc/hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost\n${ip}\t${name}\n`);
  // Nothing to ask: a refused query on loopback fails at once instead of timing out.
  writeFileSync(join(root, 'etc/resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  for (const f of ['passwd', 'group']) {
    if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  }
}

/** The SYSTEM_DIRS that are real directories here (symlinks are recreated in each root instead). */
function realSystemDirs(): string[] {
  return SYSTEM_DIRS.filter((d) => {
    try {
      return lstatSync(`/${d}`).isDirectory();
    } catch {
      return false;
    }
  });
}

export interface ScriptParams {
  root: string;
  ip: string;
  binDir: string;
  binName: string;
  wsPort: number;
  httpsPort: number;
  wsSock: string;
  httpsSock: string;
  /** Host directories to bind read-only into the root (realSystemDirs()). */
  systemDirs: string[];
}

/**
 * Runs as pid 1 of nothing: inside fresh net+mount namespaces, then becomes
 * edgemark. Pure (the host's directories come in as systemDirs), so a golden
 * test pins it.
 */
export function namespaceScript(p: ScriptParams): string {
  const q = shellQuote;
  const r = p.root;
  const lines = ['set -eu', 'ip link set lo up', `ip addr add ${p.ip}/32 dev lo`];
  for (const d of p.systemDirs) {
    lines.push(`mount --rbind /${d} ${q(join(r, d))}`, `mount -o remount,bind,ro ${q(join(r, d))}`);
  }
  lines.push(
    `mount -t proc proc ${q(join(r, 'proc'))}`,
    `mount --rbind /sys ${q(join(r, 'sys'))}`,
    `mount -o remount,bind,ro ${q(join(r, 'sys'))}`,
    `mount --rbind /dev ${q(join(r, 'dev'))}`,
    `mount --bind ${q(p.binDir)} ${q(join(r, 'opt/edgemark'))}`,
    `mount -o remount,bind,ro ${q(join(r, 'opt/edgemark'))}`,
    `socat TCP-LISTEN:${p.wsPort},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${q(p.wsSock)} </dev/null &`,
    `socat -T ${HTTPS_IDLE_S} TCP-LISTEN:${p.httpsPort},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${q(p.httpsSock)} </dev/null &`,
    // wait (5 s at most) until both listen: 0100007F:<PORT> in state 0A (LISTEN)
    `ws=$(printf '0100007F:%04X' ${p.wsPort}); hs=$(printf '0100007F:%04X' ${p.httpsPort}); n=0`,
    'until grep -q " $ws 00000000:0000 0A" /proc/net/tcp && grep -q " $hs 00000000:0000 0A" /proc/net/tcp; do',
    '  n=$((n+1)); [ $n -lt 100 ] || { echo "in-namespace forwarders did not listen" >&2; exit 1; }; sleep 0.05',
    'done',
    `cd ${q(r)}`,
    `exec chroot ${q(r)} ${q(`/opt/edgemark/${p.binName}`)} "$@"`,
  );
  return `${lines.join('\n')}\n`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Mount points visible in this mount namespace at or under `dir`. */
function mountPointsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const path = mp.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out;
}

/** A hint when the log shows one of the nil dereferences of the released v1.23.1 edgemark. */
function knownCrash(logFile: string): string {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return '';
  }
  if (!text.includes('nil pointer dereference')) return '';
  const known = [
    ['pkg/kubelet.NewMainKubelet', "kubelet.Dependencies.TracerProvider is nil (edgemark calls RunKubelet, which skips the kubelet's run() that sets it)"],
    ['dbclient.(*MetaService)', 'metamanager was registered before dao.Init, so its MetaService holds a nil *gorm.DB'],
    ['registerWithAPIServer', "kubelet.Dependencies.NodeStartupLatencyTracker is nil (also set only by the kubelet's run())"],
  ].find(([sig]) => text.includes(sig as string));
  return known
    ? `known defect of KubeEdge v1.23.1's edge/cmd/edgemark (not of this sandbox): ${known[1]}; the released binary cannot start. Use a build that sets these (see the header of bench/lib/kubeedge-edgemark.ts).`
    : '';
}
