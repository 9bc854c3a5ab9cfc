/**
 * `edgemark setup`: build the control-plane binaries into the cache (once per
 * pin), and `edgemark versions`: what can be built.
 */
import type { Command } from 'commander';
import { binaryPart, ensureBuilt, type BuildPart } from '../cluster/build.js';
import { helmBinary } from '../cluster/helm.js';
import { resolvePins, supportedPins, toolPins, type ToolsetName } from '../cluster/pins.js';
import { formatDuration } from '../core/log.js';
import { cliContext, interruptible, versionOptions } from './context.js';
import { progressPrinter } from './progress.js';

export function registerSetup(program: Command): void {
  versionOptions(
    program
      .command('setup')
      .description('build etcd, Kubernetes and CloudCore from their Go modules into the cache (a no-op when already built)')
      .option('--peers', "also build the benchmark peers: kubemark and KubeEdge's edgemark")
      .option('--worker', 'also build the kubelet of a real worker node (`cluster up --workers 1`)')
      .option('--helm', `also build helm ${toolPins.helm.version}, for the chart in deploy/helm/edgemark and its tests`),
  ).action(
    async (
      opts: { peers?: boolean; worker?: boolean; helm?: boolean; kubernetesVersion?: string; etcdVersion?: string; kubeedgeVersion?: string },
      cmd: Command,
    ) => {
      const { log, cacheDir } = cliContext(cmd);
      const pins = resolvePins({ kubernetes: opts.kubernetesVersion, etcd: opts.etcdVersion, kubeedge: opts.kubeedgeVersion });
      const started = Date.now();
      const print = progressPrinter(log);
      await interruptible(log, async (signal) => {
        for (const toolset of Object.keys(pins) as ToolsetName[]) {
          const parts: BuildPart[] = ['core', ...(opts.peers ? (['peers'] as const) : []), ...(opts.worker ? (['worker'] as const) : [])];
          for (const part of parts) {
            const pin = pins[toolset];
            if (part !== 'core' && !pin.binaries.some((b) => binaryPart(b) === part)) continue;
            const dir = await ensureBuilt({ pin, part }, { cacheDir, onEvent: print, signal });
            log.info(`${toolset} ${pin.version} (${part}): ${dir}`);
          }
        }
        if (opts.helm) log.info(`helm ${toolPins.helm.version}: ${await helmBinary({ cacheDir, onEvent: print, signal })}`);
      });
      log.info(`setup done in ${formatDuration(Date.now() - started)}; cache: ${cacheDir}`);
    },
  );

  program
    .command('versions')
    .description('the component versions this edgemark can build')
    .action(() => {
      for (const [toolset, pins] of Object.entries(supportedPins)) {
        process.stdout.write(`${toolset.padEnd(11)} ${pins.map((p, i) => (i === 0 ? `${p.version} (default)` : p.version)).join(', ')}\n`);
      }
    });
}
