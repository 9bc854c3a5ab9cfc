/**
 * The runtime registry, filled: callers import runtimes from here. A new
 * runtime is one registration here and a file (or folder) of its own.
 */
import { EdgemarkError } from '../core/errors.js';
import { InProcessRuntime } from './inprocess.js';
import { KubernetesRuntime } from './kubernetes/runtime.js';
import { registerRuntime } from './runtime.js';
import { WorkersRuntime } from './workers.js';

registerRuntime({ name: 'inprocess', description: 'every node in this process', create: () => new InProcessRuntime() });
registerRuntime({ name: 'workers', description: 'the nodes over K local worker processes (--workers K)', create: (o) => new WorkersRuntime(o.workers ?? 2) });
registerRuntime({
  name: 'kubernetes',
  description: 'the nodes as runner pods of K nodes each on an external cluster (--external-kubeconfig)',
  create: (o) => {
    if (!o.kubernetes) {
      throw new EdgemarkError(
        'EM_BAD_FLAG',
        '[runtime] the kubernetes runtime needs the external cluster',
        'pass --external-kubeconfig <file> (where the runner pods run)',
      );
    }
    return new KubernetesRuntime(o.kubernetes);
  },
});

export {
  createRuntime,
  runtimeNames,
  type Credentials,
  type DryRun,
  type FleetResult,
  type Runtime,
  type RunningFleet,
  type RuntimeEvent,
  type RuntimeOptions,
} from './runtime.js';
export {
  nodeIndex,
  nodeNames,
  oneGroupPlan,
  parsePlan,
  planNodeCount,
  PLAN_API_VERSION,
  type FleetPlan,
  type FleetPlanInput,
  type OneGroupPlan,
} from './plan.js';
