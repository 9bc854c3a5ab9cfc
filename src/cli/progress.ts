/**
 * Turns build and start-up events into terminal lines. A cold build takes many
 * minutes, so it reports the component, the elapsed time and the log file.
 */
import { formatDuration, type Logger } from '../core/log.js';
import type { UpEvent } from '../cluster/cluster.js';

export function progressPrinter(log: Logger): (e: UpEvent) => void {
  return (e) => {
    switch (e.kind) {
      case 'cached':
        log.debug(`${e.target.pin.toolset} ${e.target.pin.version}: cached in ${e.dir}`);
        break;
      case 'waiting-lock':
        log.info(`waiting for another edgemark build (pid ${e.holderPid}) to finish`);
        break;
      case 'start':
        log.info(`building ${e.target.pin.toolset} ${e.target.pin.version}: ${e.binaries.join(', ')} (log: ${e.log})`);
        break;
      case 'tick':
        log.info(`  ... still building ${e.target.pin.toolset} ${e.target.pin.version}, ${formatDuration(e.elapsedMs)} elapsed (log: ${e.log})`);
        break;
      case 'done':
        log.info(`built ${e.target.pin.toolset} ${e.target.pin.version} in ${formatDuration(e.elapsedMs)}`);
        break;
      case 'step':
        log.info(e.message);
        break;
      case 'component-starting':
        log.info(`starting ${e.name} (log: ${e.log})`);
        break;
      case 'component-healthy':
        log.info(`  ${e.name} healthy after ${formatDuration(e.elapsedMs)}`);
        break;
      case 'worker-starting':
        log.info(`starting ${e.what} of worker ${e.node} (log: ${e.log})`);
        break;
      case 'worker-ready':
        log.info(`  worker ${e.node} Ready after ${formatDuration(e.elapsedMs)}`);
        break;
    }
  };
}
