/**
 * Configuration files the tool writes for components that take one. CloudCore
 * applies its file on top of its full defaults, so only overrides are written:
 * loopback addresses, our PKI, modules that need root switched off.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { PkiPaths } from './pki.js';
import type { CloudcorePortKind } from './ports.js';
import { LOOPBACK } from './ports.js';

export function renderSchedulerConfig(o: { kubeconfig: string }): string {
  return stringify({
    apiVersion: 'kubescheduler.config.k8s.io/v1',
    kind: 'KubeSchedulerConfiguration',
    clientConnection: { kubeconfig: o.kubeconfig, qps: 100, burst: 200 },
    leaderElection: { leaderElect: false },
  });
}

export interface CloudcoreConfigOptions {
  stateDir: string;
  kubeconfig: string;
  pki: PkiPaths;
  /** This instance's ports. */
  ports: Record<CloudcorePortKind, number>;
  /** Which CloudCore instance (0-based) of the cluster this config is for. */
  instance: number;
  /** Maximum concurrent edge sessions of this instance (CloudHub counts its own sessions only); CloudCore also sizes its API QPS from it. */
  nodeLimit: number;
  /** Addresses the edge dials; they must be in CloudCore's serving certificate. */
  advertiseAddress: string[];
}

/**
 * Worker counts of CloudCore's edgecontroller for a node limit (goroutines;
 * cheap). Its upstream dispatcher is one goroutine that hands each edge
 * message to a per-kind queue; one full queue blocks it, and then the module's
 * own channel fills and CloudCore drops whatever the edge sends next
 * (registrations, lease renewals). CloudCore sizes some of these from its
 * default node limit (500), not the configured one, so they are set here for
 * every kind a hollow node (and edgecore 1.23) sends: podpatch, nodepatch,
 * node insert and query, lease insert, update and query.
 */
export function edgeControllerLoad(nodeLimit: number): Record<string, number> {
  const scale = (per: number, min: number) => Math.max(min, Math.ceil(nodeLimit / per));
  return {
    updatePodStatusWorkers: scale(5, 4),
    updateNodeStatusWorkers: scale(10, 1),
    queryConfigMapWorkers: scale(10, 4),
    querySecretWorkers: scale(10, 4),
    ServiceAccountTokenWorkers: scale(10, 4),
    deletePodWorkers: scale(10, 4),
    patchPodWorkers: scale(5, 100),
    patchNodeWorkers: scale(10, 110),
    createNodeWorkers: scale(10, 100),
    queryNodeWorkers: Math.max(500, nodeLimit),
    updateNodeWorkers: scale(10, 100),
    createLeaseWorkers: Math.max(500, nodeLimit),
    queryLeaseWorkers: scale(10, 100),
  };
}

export function edgeControllerBuffer(nodeLimit: number): Record<string, number> {
  const perNode = (k: number) => Math.max(1024, nodeLimit * k);
  return {
    updatePodStatus: perNode(20),
    updateNodeStatus: perNode(2),
    patchPod: perNode(20),
    patchNode: perNode(2),
    createNode: perNode(2),
    queryNode: perNode(2),
    updateNode: perNode(2),
    createLease: perNode(2),
    queryLease: perNode(2),
  };
}

/**
 * Several instances against one apiserver need nothing more than their own
 * ports (CloudCore v1.23.1, read and run): all of them load the CA and the
 * serving certificate from the same files, so a join token any of them writes
 * to kubeedge/tokensecret (each does at start; HS256 signed with the CA key)
 * is accepted by every one. There is no leader election and no instance
 * identity to set: every instance watches every pod, node and ObjectSync and
 * sends to the nodes connected to itself; the annotation `cloudcore` it puts
 * on a node is the host's address, the same for all of them here, and is read
 * only by cloudStream and the iptables manager, both off. advertiseAddress
 * stays 127.0.0.1 for every one, as it is only the IP SAN of a serving
 * certificate that the tool writes itself.
 */
export function renderCloudcoreConfig(o: CloudcoreConfigOptions): string {
  return stringify({
    apiVersion: 'cloudcore.config.kubeedge.io/v1alpha1',
    kind: 'CloudCore',
    kubeAPIConfig: { kubeConfig: o.kubeconfig, master: '' },
    commonConfig: {
      monitorServer: { bindAddress: `${LOOPBACK}:${o.ports.cloudcoreMetrics}` },
    },
    modules: {
      cloudHub: {
        advertiseAddress: o.advertiseAddress,
        dnsNames: ['localhost'],
        nodeLimit: o.nodeLimit,
        tlsCAFile: o.pki.edgeCaCert,
        tlsCAKeyFile: o.pki.edgeCaKey,
        tlsCertFile: o.pki.cloudcoreServerCert,
        tlsPrivateKeyFile: o.pki.cloudcoreServerKey,
        // Validated and its directory created even when disabled: keep it ours, one per instance.
        unixsocket: { enable: false, address: `unix://${join(o.stateDir, 'run', o.instance === 0 ? 'kubeedge.sock' : `kubeedge-${o.instance}.sock`)}` },
        websocket: { enable: true, address: LOOPBACK, port: o.ports.cloudhubWebsocket },
        quic: { enable: false, address: LOOPBACK, port: 10001 },
        https: { enable: true, address: LOOPBACK, port: o.ports.cloudhubHttps },
      },
      // CloudCore's upstream workers default to a handful (1 for pod status):
      // one worker turns thousands of edge pods' status into a queue. Scaled
      // from nodeLimit as KubeEdge's own large-scale tests configure them.
      edgeController: { load: edgeControllerLoad(o.nodeLimit), buffer: edgeControllerBuffer(o.nodeLimit) },
      cloudStream: { enable: false },
      router: { enable: false, address: LOOPBACK },
      dynamicController: { enable: false },
      taskManager: { enable: false },
      // Edits host iptables and needs root; nothing here routes edge traffic.
      iptablesManager: { enable: false, mode: 'internal' },
    },
  });
}

/** File name (under config/) of kube-apiserver's audit policy, when the cluster keeps an audit log. */
export const AUDIT_POLICY = 'audit-policy.yaml';

/**
 * Every request at level Metadata: who (user, groups, user agent), what (verb,
 * resource, subresource, namespace, name), when and the response code; never a
 * request or response body, so no Secret's data or token. A request is one
 * event when it completes; a watch or another long-running request is also one
 * when its response starts (stage ResponseStarted), which is how it is counted.
 */
export function renderAuditPolicy(): string {
  return stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata' }] });
}

/** kube-apiserver's flags for a JSON-lines audit log at `path`, rotated at 100 MB, 10 files kept. */
export function auditArgs(policyFile: string, path: string): string[] {
  return [`--audit-policy-file=${policyFile}`, `--audit-log-path=${path}`, '--audit-log-format=json', '--audit-log-maxsize=100', '--audit-log-maxbackup=10'];
}
