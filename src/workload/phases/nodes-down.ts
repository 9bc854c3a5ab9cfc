/** nodesDown: the fleet stops, then the run's Nodes and their Leases are deleted. */
import type { KubeOps, RunContext } from '../context.js';

export async function nodesDown(ctx: RunContext): Promise<void> {
  await ctx.fleet.down();
  await deleteRunNodes(ctx.kube);
}

/** Stopped hollow nodes leave their Node objects behind (NotReady); the run removes them. */
export async function deleteRunNodes(kube: KubeOps): Promise<void> {
  const names = await kube.listNodes();
  for (const name of names) await kube.deleteNode(name);
  for (const name of names) await kube.deleteNodeLease(name);
}
