#!/usr/bin/env node
/**
 * Entry point. A worker process of `nodes run --workers K` loads only the
 * fleet (it takes its orders over IPC); the CLI and everything its verbs need
 * (Kubernetes client, PKI, reports) load in the primary alone, which keeps
 * each worker's baseline memory and start time small.
 */
import cluster from 'node:cluster';

if (cluster.isWorker) {
  const { workerMain } = await import('../fleet/workers.js');
  await workerMain();
} else {
  const { main } = await import('./program.js');
  process.exitCode = await main(process.argv);
}
