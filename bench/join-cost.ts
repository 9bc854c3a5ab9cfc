/**
 * bench/join-cost: where the runner's CPU goes when one hollow edge node joins,
 * measured against a private local control plane (free ports, temporary state)
 * one join at a time, so that nothing else runs in the runner meanwhile. For
 * each of N fresh node names it times the runner side of a join:
 *
 *   bootstrap  key, CSR and the HTTPS exchange at CloudCore's /edge.crt
 *   context    the node's TLS context (CA, certificate and key parsed)
 *   websocket  TLS handshake with the client certificate and the upgrade, to open
 *
 * and, as the peer of the last two, a bare TLS handshake with the same context
 * to the same port (what Node and OpenSSL cost before any protocol). It prints
 * the median CPU (user + system of this process: the kernel's loopback work is
 * in it) and wall time of each, and the ratios to the bare handshake.
 * Loopback only; bounded in count; everything it starts it stops.
 *
 *   node dist/bench/join-cost.js [--joins 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { defaultCacheDir } from '../src/core/paths.js';
import { k8s, loadKubeConfig } from '../src/kube/client.js';
import { pct } from '../src/run/measure.js';
import { fetchCloudCa, requestEdgeCertificate, type EdgeIdentity } from '../src/transport/bootstrap.js';
import { parseToken } from '../src/transport/token.js';
import { EdgeSocket } from '../src/transport/websocket.js';

const { values } = parseArgs({ options: { joins: { type: 'string', default: '200' } } });
const joins = Number(values.joins);
if (!Number.isInteger(joins) || joins < 10 || joins > 5000) {
  process.stderr.write('usage: join-cost.js [--joins N] (10 to 5000)\n');
  process.exit(2);
}

type Piece = 'bootstrap' | 'context' | 'bare TLS handshake' | 'websocket open';
const cpu: Record<Piece, number[]> = { bootstrap: [], context: [], 'bare TLS handshake': [], 'websocket open': [] };
const wall: Record<Piece, number[]> = { bootstrap: [], context: [], 'bare TLS handshake': [], 'websocket open': [] };

async function measure<T>(piece: Piece, fn: () => Promise<T> | T): Promise<T> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const c = process.cpuUsage(c0);
  cpu[piece].push((c.user + c.system) / 1000);
  wall[piece].push(performance.now() - t0);
  return out;
}

const median = (xs: number[]) => pct(xs, 50);

function bareHandshake(port: number, ctx: SecureContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, secureContext: ctx, rejectUnauthorized: true });
    s.once('secureConnect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

function websocketOpen(server: string, nodeName: string, ctx: SecureContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: EdgeSocket = new EdgeSocket({
      onOpen: () => {
        socket.close();
        resolve();
      },
      onFrame: () => undefined,
      onClose: (reason) => reject(new Error(`websocket of ${nodeName} closed before it opened: ${reason}`)),
    });
    socket.dial({ server, nodeName, secureContext: ctx });
  });
}

const stateDir = mkdtempSync(join(tmpdir(), 'em-joincost-'));
const state = await clusterUp({ stateDir, cacheDir: defaultCacheDir(), ports: 'auto' });
try {
  const core = loadKubeConfig(state.kubeconfig).makeApiClient(k8s.CoreV1Api);
  const secret = await core.readNamespacedSecret({ name: 'tokensecret', namespace: 'kubeedge' });
  const token = parseToken(Buffer.from(secret.data!.tokendata!, 'base64').toString());
  const https = `https://127.0.0.1:${state.ports.cloudhubHttps}`;
  const ws = `127.0.0.1:${state.ports.cloudhubWebsocket}`;
  const ca = await fetchCloudCa(https, token);
  // A few joins first, so that lazy initialisation (module code, OpenSSL
  // tables, CloudCore's caches) is not counted.
  for (let i = -5; i < joins; i++) {
    const name = `joincost-${i < 0 ? `warm${-i}` : i}`;
    const id: EdgeIdentity = await measure('bootstrap', () => requestEdgeCertificate(https, ca, token, name));
    const ctx = await measure('context', () => createSecureContext({ ca: ca.pem, cert: id.certPem, key: id.keyPem, minVersion: 'TLSv1.2' }));
    await measure('bare TLS handshake', () => bareHandshake(state.ports.cloudhubWebsocket, ctx));
    await measure('websocket open', () => websocketOpen(ws, name, ctx));
    if (i === -1) {
      for (const k of Object.keys(cpu) as Piece[]) {
        cpu[k].length = 0;
        wall[k].length = 0;
      }
    }
  }
  const bare = median(cpu['bare TLS handshake']);
  const rows = (Object.keys(cpu) as Piece[]).map((k) => ({
    piece: k,
    cpuMs: round(median(cpu[k])),
    wallMs: round(median(wall[k])),
    perBareHandshake: round(median(cpu[k]) / bare),
  }));
  const joinCpu = median(cpu.bootstrap) + median(cpu.context) + median(cpu['websocket open']);
  process.stdout.write(`${JSON.stringify({ joins, node: process.version, openssl: process.versions.openssl, rows, runnerSideJoinCpuMs: round(joinCpu) })}\n`);
  process.stdout.write(`runner side of one join, ${joins} joins one at a time against CloudCore (medians):\n`);
  for (const r of rows)
    process.stdout.write(
      `  ${r.piece.padEnd(20)} ${String(r.cpuMs).padStart(6)} ms CPU  ${String(r.wallMs).padStart(6)} ms wall  x${r.perBareHandshake} of a bare TLS handshake\n`,
    );
  process.stdout.write(
    `  bootstrap + context + websocket: ${round(joinCpu)} ms CPU, i.e. at most ${Math.floor(1000 / joinCpu)} joins per core-second before any message\n`,
  );
} finally {
  await clusterDown({ stateDir, purge: true });
  rmSync(stateDir, { recursive: true, force: true });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
