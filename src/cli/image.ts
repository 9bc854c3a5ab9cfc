/**
 * `edgemark image build`: the edgemark image as a docker-archive file, made
 * without a daemon or a registry; `edgemark image pause`: the pod sandbox
 * image a real kubelet node needs.
 */
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { formatBytes, formatDuration } from '../core/log.js';
import { buildEdgemarkImage } from '../image/edgemark.js';
import { buildPauseImage } from '../image/pause.js';
import { DEFAULT_IMAGE } from '../image/ref.js';
import { cliContext, interruptible } from './context.js';

export function registerImage(program: Command): void {
  const image = program.command('image').description('container images of edgemark, written as files (no daemon, no registry)');

  image
    .command('build')
    .description("write the edgemark image (this machine's node, the production node_modules, dist/) as a docker-archive file")
    .option('--name <ref>', `image name and tag (default ${DEFAULT_IMAGE})`)
    .option('--out <file>', 'archive to write (default <cache-dir>/images/edgemark-<version>.tar)')
    .addOption(new Option('--format <format>', 'archive format').choices(['docker-archive']).default('docker-archive'))
    .action(async (opts: { name?: string; out?: string }, cmd: Command) => {
      const { log, cacheDir } = cliContext(cmd);
      const started = Date.now();
      const r = await buildEdgemarkImage({ cacheDir, name: opts.name, out: opts.out === undefined ? undefined : resolve(opts.out) });
      log.info(`${r.name} (${r.configDigest.slice(0, 19)}) written in ${formatDuration(Date.now() - started)}`);
      log.info(`  layers: ${r.layers.map((l) => formatBytes(l.bytes)).join(' + ')} = ${formatBytes(r.uncompressedBytes)} uncompressed`);
      log.info(`  archive: ${r.file} (${formatBytes(r.bytes)})`);
      log.info(`  import:  ctr -n k8s.io images import ${r.file}`);
      log.info(`  push:    skopeo copy docker-archive:${r.file} docker://<registry>/edgemark:<tag>`);
    });

  image
    .command('pause')
    .description('build the pod sandbox ("pause") image once into the cache and print its archive')
    .action(async (_opts: unknown, cmd: Command) => {
      const { log, cacheDir } = cliContext(cmd);
      const r = await interruptible(log, (signal) => buildPauseImage({ cacheDir, signal }));
      process.stdout.write(`${r.archive}\n`);
      log.info(`${r.name}: import with ctr -n k8s.io images import ${r.archive}`);
    });
}
