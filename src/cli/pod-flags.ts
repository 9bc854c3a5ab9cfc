/**
 * The flags of where runner pods run and how (the kubernetes runtime): shared
 * by the fleet verbs and by `nodes run` and `run` with --runtime kubernetes.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { EdgemarkError } from '../core/errors.js';
import { imageRef } from '../image/ref.js';
import { DEFAULT_NODES_PER_POD, type PodSettings } from '../runtime/kubernetes/manifests.js';
import type { KubernetesRuntimeOptions } from '../runtime/kubernetes/runtime.js';
import { parsePositiveInt } from './context.js';

/**
 * Runner ports by who made the fleet: on the host network, pod o of a fleet
 * serves on PORT + o, so fleets that may share a node (a \`fleet create\`
 * fleet, a \`nodes run\` and a \`run\` on the same worker) keep 200 ports apart.
 */
export const FLEET_PORT = 9400;
export const NODES_RUN_PORT = 9600;
export const RUN_PORT = 9800;

/** A localhost/ image exists only where it was imported: never pull it. */
export function pullPolicyOf(image: string, flag: PodSettings['imagePullPolicy'] | undefined): PodSettings['imagePullPolicy'] {
  return flag ?? (image.startsWith('localhost/') ? 'Never' : 'IfNotPresent');
}

export function parseKeyValues(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',').filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`--node-selector takes key=value[,key=value], not "${v}"`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function parsePullPolicy(v: string): PodSettings['imagePullPolicy'] {
  if (v !== 'Never' && v !== 'IfNotPresent' && v !== 'Always') throw new InvalidArgumentError(`--pull-policy takes Never, IfNotPresent or Always, not "${v}"`);
  return v;
}

/** Where runner pods run and how: shared by the fleet verbs and by `nodes run` / `run` with --runtime kubernetes. */
export function podOptions(cmd: Command): Command {
  return cmd
    .option('--external-kubeconfig <file>', 'the external cluster, where the runner pods run (env EDGEMARK_EXTERNAL_KUBECONFIG)')
    .option('--image <ref>', 'runner image (default: env EDGEMARK_IMAGE, else the pinned localhost/edgemark:<version>)')
    .option('--pull-policy <p>', 'Never (default for localhost/ images), IfNotPresent (default otherwise) or Always', parsePullPolicy)
    .option('--nodes-per-pod <k>', `hollow nodes per runner pod (default ${DEFAULT_NODES_PER_POD}, or N when fewer)`, parsePositiveInt('--nodes-per-pod'))
    .option('--host-network', "run the pods in their node's network (default: when CloudCore's address is a loopback one)")
    .option('--no-host-network', 'run the pods in the pod network')
    .option('--node-selector <k=v,...>', 'run the pods only on external nodes with these labels', parseKeyValues);
}

export interface PodFlags {
  externalKubeconfig?: string;
  image?: string;
  pullPolicy?: PodSettings['imagePullPolicy'];
  nodesPerPod?: number;
  hostNetwork?: boolean;
  nodeSelector?: Record<string, string>;
}

/** The kubernetes runtime's options from the pod flags (fleet `name` and `namespace` given by the verb). */
export function kubernetesOptions(f: PodFlags, name: string, port: number, namespace = 'edgemark'): KubernetesRuntimeOptions {
  const externalKubeconfig = f.externalKubeconfig ?? process.env.EDGEMARK_EXTERNAL_KUBECONFIG;
  if (!externalKubeconfig) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      '[fleet] no external cluster: the runner pods need a cluster to run on',
      'pass --external-kubeconfig <file> (or set EDGEMARK_EXTERNAL_KUBECONFIG)',
    );
  }
  const image = imageRef(f.image);
  return {
    externalKubeconfig,
    name,
    port,
    namespace,
    image,
    imagePullPolicy: pullPolicyOf(image, f.pullPolicy),
    ...(f.nodesPerPod !== undefined ? { nodesPerPod: f.nodesPerPod } : {}),
    ...(f.hostNetwork !== undefined ? { hostNetwork: f.hostNetwork } : {}),
    ...(f.nodeSelector ? { nodeSelector: f.nodeSelector } : {}),
  };
}
