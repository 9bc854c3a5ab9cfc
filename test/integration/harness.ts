/**
 * Integration-test helpers: bring up a private local cluster (own state
 * directory, free ports) against the shared build cache, start hollow nodes
 * through the runtime interface, and run the real `edgemark` CLI for the tests
 * of the CLI itself (flags, errors, Ctrl-C).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readState, type ClusterState } from '../../src/cluster/state.js';
import { defaultCacheDir, packageRoot } from '../../src/core/paths.js';
import { createLogger } from '../../src/core/log.js';
import type { FleetSummary } from '../../src/fleet/summary.js';
import { createRuntime, oneGroupPlan, type FleetResult, type OneGroupPlan, type RunningFleet } from '../../src/runtime/index.js';
import { resolveTarget } from '../../src/target/target.js';

export const cli = resolve(packageRoot(), 'dist/src/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCli(args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, ...(o.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export interface TestCluster {
  stateDir: string;
  args: string[];
  state(): ClusterState;
  down(): Promise<CliResult>;
}

/** A fresh cluster on free ports; `down --purge` removes it. */
export async function upTestCluster(extra: string[] = []): Promise<TestCluster & { up: CliResult }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'em-it-'));
  const args = ['--state-dir', stateDir, '--cache-dir', defaultCacheDir()];
  const up = await runCli([...args, 'cluster', 'up', '--ports', 'auto', ...extra]);
  if (up.code !== 0) {
    await runCli([...args, 'cluster', 'down']);
    throw new Error(`cluster up failed (${up.code}):\n${up.stderr}\n${up.stdout}`);
  }
  return {
    stateDir,
    args,
    up,
    state: () => {
      const s = readState(stateDir);
      if (!s) throw new Error('no state');
      return s;
    },
    down: () => runCli([...args, 'cluster', 'down', '--purge']),
  };
}

/** A fleet started through the runtime interface against a test cluster (no CLI, no files read back). */
export interface TestFleet {
  fleet: RunningFleet;
  /** The latest summary (every 2 s while it runs). */
  summary(): FleetSummary | undefined;
  stop(): Promise<FleetResult>;
}

export async function startTestFleet(
  cluster: TestCluster,
  o: Omit<OneGroupPlan, 'target' | 'dataDir'> & { dataDir?: string; runtime?: string; workers?: number; token?: string; bootstrapToken?: string },
): Promise<TestFleet> {
  const kubelet = o.kind === 'kubelet';
  const target = resolveTarget({ ...(o.token ? { token: o.token } : {}), ...(o.bootstrapToken ? { bootstrapToken: o.bootstrapToken } : {}) }, cluster.stateDir);
  const plan = oneGroupPlan({
    ...o,
    target: { name: target.name, cloudcore: target.cloudcore, apiserver: target.apiserver, ...(kubelet ? { apiserverCa: target.apiserverCa } : {}) },
    dataDir: o.dataDir ?? join(cluster.stateDir, `runner-${o.prefix}`),
  });
  const runtime = createRuntime(o.runtime ?? (o.workers ? 'workers' : 'inprocess'), o.workers ? { workers: o.workers } : {});
  const log = createLogger({ level: 'warn', prefix: `[${o.prefix}] ` });
  const credentials = kubelet ? { token: '', bootstrapToken: await target.bootstrapToken() } : { token: await target.token() };
  const fleet = await runtime.start(plan, credentials, { log });
  return { fleet, summary: () => fleet.latest(), stop: () => fleet.stop() };
}
