/**
 * The node kinds a runner can run, by the name a plan's group gives. A new
 * kind is one line here and a folder of its own.
 */
import { EdgemarkError } from '../core/errors.js';
import { EDGE_KIND, edgeKind } from '../edge/kind.js';
import type { NodeKindDefinition } from '../kind/kind.js';
import { KUBELET_KIND, kubeletKind } from '../kubelet/kind.js';
import type { FleetPlan } from './plan.js';

export const nodeKinds: Record<string, NodeKindDefinition> = {
  [EDGE_KIND]: edgeKind,
  [KUBELET_KIND]: kubeletKind,
};

/** Every group names a kind there is; EM_KIND_UNKNOWN otherwise. */
export function checkKinds(plan: FleetPlan): void {
  for (const g of plan.groups) {
    if (!Object.hasOwn(nodeKinds, g.kind)) {
      throw new EdgemarkError(
        'EM_KIND_UNKNOWN',
        `[plan] group ${g.name} has kind "${g.kind}", which this build does not have`,
        `use one of: ${Object.keys(nodeKinds).join(', ')}`,
      );
    }
    nodeKinds[g.kind]!.validate({ name: g.name, prefix: g.prefix, profile: g.profile, timings: g.timings });
  }
}
