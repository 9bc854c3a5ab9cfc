/**
 * Kill faults on the local control plane: signal one of its components and
 * wait until it is gone; start what is stopped again (`cluster up` does that:
 * it starts only the components that are not running) and wait until healthy.
 */
import { AlreadyUpError, clusterUp } from '../cluster/cluster.js';
import { readState } from '../cluster/state.js';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { pollUntil } from '../core/poll.js';
import { isSameProcess } from '../core/proc.js';
import type { ControlPlaneFaults } from '../faults/driver.js';

export function localControlPlaneFaults(stateDir: string, cacheDir: string, log: Logger): ControlPlaneFaults {
  return {
    async kill(component, signal) {
      const state = readState(stateDir);
      const p = state?.components[component];
      if (!state || !p || !isSameProcess(p.pid, p.startTicks)) {
        throw new EdgemarkError(
          'EM_FAULT_INVALID',
          `[faults] ${component} of the local cluster in ${stateDir} is not running`,
          '`edgemark cluster status` shows each component',
        );
      }
      process.kill(p.pid, signal);
      await pollUntil(`${component} (pid ${p.pid}) to exit`, async () => (isSameProcess(p.pid, p.startTicks) ? undefined : true), {
        timeoutMs: 60_000,
        intervalMs: 100,
        prefix: '[faults]',
      });
      log.info(`faults: ${component} (pid ${p.pid}) is gone after ${signal}`);
    },
    async restart() {
      try {
        await clusterUp({ stateDir, cacheDir });
      } catch (err) {
        // Everything runs already (it came back by itself): nothing to start.
        if (!(err instanceof AlreadyUpError)) throw err;
      }
    },
  };
}
