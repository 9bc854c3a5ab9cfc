/**
 * Which control plane a run addresses: the local cluster of `edgemark cluster
 * up` (the default), or an existing one named by a kubeconfig and CloudCore's
 * address(es). Resolving a target reads files only; the join token is read
 * when asked for (a dry run never asks), from a flag, a file, or the secret
 * kubeedge/tokensecret through the target's kubeconfig. The token is never
 * logged: `tokenSource` says where it came from.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { TOKEN_SECRET } from '../cluster/health.js';
import { cloudcorePorts } from '../cluster/ports.js';
import { cloudcoreCount, readState, type ClusterState } from '../cluster/state.js';
import { splitHostPort } from '../core/address.js';
import { EdgemarkError } from '../core/errors.js';
import { k8s, loadKubeConfig } from '../kube/client.js';
import type { GivenIdentity } from '../kind/kind.js';
import { checkBootstrapToken } from '../kubelet/bootstrap.js';
import { givenIdentityOf } from '../kubelet/given.js';
import { parseToken } from '../transport/token.js';
import { checkBootstrapTokenSecret, createBootstrapToken } from './bootstrap-token.js';

/** CloudHub's certificate server port when only the websocket address is given. */
export const DEFAULT_CLOUDHUB_HTTPS_PORT = 10002;

export interface TargetFlags {
  /** An existing cluster's kubeconfig (else the local cluster). */
  kubeconfig?: string;
  /** CloudHub websocket host:port, comma-separated for several. */
  cloudcore?: string;
  /** CloudHub's certificate server host:port (default: each CloudCore's host, port 10002). */
  cloudcoreHttps?: string;
  token?: string;
  tokenFile?: string;
  /** The bootstrap token of kubelet nodes (<id>.<secret>); made through the kubeconfig when absent. */
  bootstrapToken?: string;
  bootstrapTokenFile?: string;
  /** Kubelet nodes' given identity instead of TLS bootstrap: a kubeconfig all share, or a directory of <node>.kubeconfig. */
  nodeKubeconfig?: string;
  /** Whether the run has edge nodes, which need a CloudCore (default true). */
  needsCloudcore?: boolean;
}

export interface Target {
  /** For messages and reports: "local cluster in <dir>" or "<kubeconfig> (context <c>)". */
  name: string;
  /** The local cluster's state, when the target is the local cluster. */
  local: ClusterState | undefined;
  /** The kubeconfig to reach kube-apiserver with, when there is one. */
  kubeconfig: string | undefined;
  /** CloudHub's addresses (websocket host:port, https://host:port of the certificate server). */
  cloudcore: { websocket: string; https: string }[];
  /** The API server URL of the kubeconfig's current context. */
  apiserver: string | undefined;
  /** How many nodes CloudCore takes, when known: the local cluster's cloudHub.nodeLimit, which each of its CloudCores applies to its own sessions, times their number. */
  nodeLimit: number | undefined;
  /** Where the token comes from (never the token). */
  tokenSource: string;
  /** Reads the join token, checks its form, and keeps it. */
  token(): Promise<string>;
  /** kube-apiserver's CA (PEM), from the kubeconfig. */
  apiserverCa: string | undefined;
  /** Where the bootstrap token comes from (never the token). */
  bootstrapTokenSource: string;
  /** The bootstrap token for kubelet nodes: the given one (checked against its secret), or a fresh one made through the kubeconfig. */
  bootstrapToken(): Promise<string>;
  /** Where kubelet nodes' identities come from (never a secret): their TLS bootstrap's token, or --node-kubeconfig. */
  kubeletIdentitySource: string;
  /** What kubelet nodes authenticate with: the given node kubeconfig(s), else a bootstrap token (read or made now). */
  kubeletCredentials(): Promise<{ bootstrapToken: string } | { nodeKubeconfig: GivenIdentity }>;
}

function parseHostPort(flag: string, v: string): string {
  const hp = splitHostPort(v);
  if (!hp || hp.port < 1 || hp.port > 65535) {
    throw new EdgemarkError('EM_TARGET_INVALID', `[target] ${flag} takes host:port (for example 127.0.0.1:10000), not "${v}"`, `pass ${flag} <host:port>`);
  }
  return v;
}

const hostOf = (hp: string) => hp.slice(0, hp.lastIndexOf(':'));

export function cloudcoreAddresses(list: string, https?: string): { websocket: string; https: string }[] {
  const ws = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parseHostPort('--cloudcore', s));
  if (ws.length === 0) throw new EdgemarkError('EM_TARGET_INVALID', '[target] --cloudcore names no address', 'pass --cloudcore <host:port>[,<host:port>...]');
  if (https && ws.length > 1)
    throw new EdgemarkError(
      'EM_TARGET_INVALID',
      '[target] --cloudcore-https goes with one --cloudcore address',
      `leave it out: each CloudCore's certificates are then fetched from its host, port ${DEFAULT_CLOUDHUB_HTTPS_PORT}`,
    );
  return ws.map((w) => ({
    websocket: w,
    https: `https://${https ? parseHostPort('--cloudcore-https', https) : `${hostOf(w)}:${DEFAULT_CLOUDHUB_HTTPS_PORT}`}`,
  }));
}

/** Reads the join token from the cluster's secret kubeedge/tokensecret. */
export async function readTokenSecret(kubeconfig: string): Promise<string> {
  const core = loadKubeConfig(kubeconfig).makeApiClient(k8s.CoreV1Api);
  const s = await core.readNamespacedSecret({ name: TOKEN_SECRET.name, namespace: TOKEN_SECRET.namespace });
  const data = s.data?.[TOKEN_SECRET.key];
  if (!data) throw new Error(`secret ${TOKEN_SECRET.namespace}/${TOKEN_SECRET.name} has no ${TOKEN_SECRET.key}`);
  return Buffer.from(data, 'base64').toString('utf8').trim();
}

function readTokenFile(file: string): string {
  const path = resolve(file);
  if (!existsSync(path))
    throw new EdgemarkError(
      'EM_NO_TOKEN',
      `[target] token file ${path} does not exist`,
      'pass --token-file <file> with the join token in it (secret kubeedge/tokensecret, key tokendata)',
    );
  if (!statSync(path).isFile())
    throw new EdgemarkError('EM_NO_TOKEN', `[target] token file ${path} is not a file`, 'pass --token-file <file> with the join token in it');
  const text = readFileSync(path, 'utf8').trim();
  if (!text)
    throw new EdgemarkError('EM_NO_TOKEN', `[target] token file ${path} is empty`, 'write the join token into it (secret kubeedge/tokensecret, key tokendata)');
  return text;
}

function caOf(cluster: k8s.Cluster): string | undefined {
  if (cluster.caData) return Buffer.from(cluster.caData, 'base64').toString('utf8');
  if (cluster.caFile && existsSync(cluster.caFile)) return readFileSync(cluster.caFile, 'utf8');
  return undefined;
}

/** The bootstrap token of these flags, or one made through `kubeconfig` when there is none. */
function bootstrapTokenOf(flags: TargetFlags, kubeconfig: string | undefined): { source: string; read: () => Promise<string> } {
  if (flags.bootstrapToken !== undefined && flags.bootstrapTokenFile !== undefined) {
    throw new EdgemarkError('EM_TARGET_INVALID', '[target] both --bootstrap-token and --bootstrap-token-file were given', 'pass one of them');
  }
  let given = flags.bootstrapToken?.trim();
  let source = given !== undefined ? '--bootstrap-token' : '';
  if (flags.bootstrapTokenFile !== undefined) {
    const path = resolve(flags.bootstrapTokenFile);
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new EdgemarkError(
        'EM_NO_TOKEN',
        `[target] bootstrap token file ${path} does not exist`,
        'pass --bootstrap-token-file <file> with a token <id>.<secret> in it',
      );
    }
    given = readFileSync(path, 'utf8').trim();
    source = `--bootstrap-token-file ${path}`;
  }
  let p: Promise<string> | undefined;
  if (given !== undefined) {
    const t = given;
    return {
      source,
      read: () =>
        (p ??= (async () => {
          checkBootstrapToken(t);
          if (kubeconfig) await checkBootstrapTokenSecret(kubeconfig, t);
          return t;
        })()),
    };
  }
  if (!kubeconfig) {
    return {
      source: 'none',
      read: () =>
        Promise.reject(
          new EdgemarkError(
            'EM_NO_TOKEN',
            '[target] kubelet nodes need a bootstrap token, and there is no kubeconfig to make one with',
            'pass --bootstrap-token <id>.<secret> or --kubeconfig',
          ),
        ),
    };
  }
  return {
    source: `a fresh bootstrap token (24 h) made through ${kubeconfig}`,
    read: () =>
      (p ??= createBootstrapToken(kubeconfig).catch((err: unknown) => {
        throw new EdgemarkError(
          'EM_NO_TOKEN',
          `[target] cannot make a bootstrap token through ${kubeconfig}: ${(err as Error).message}`,
          'pass --bootstrap-token <id>.<secret>, or use a kubeconfig that may create secrets in kube-system and cluster role bindings',
          { cause: err },
        );
      })),
  };
}

function kubeconfigTarget(file: string): { kubeconfig: string; apiserver: string | undefined; apiserverCa: string | undefined; name: string } {
  const path = resolve(file);
  if (!existsSync(path))
    throw new EdgemarkError('EM_NO_KUBECONFIG', `[target] kubeconfig ${path} does not exist`, 'pass --kubeconfig <file> of the cluster under test');
  let kc: k8s.KubeConfig;
  try {
    kc = loadKubeConfig(path);
  } catch (err) {
    throw new EdgemarkError('EM_NO_KUBECONFIG', `[target] kubeconfig ${path} cannot be read: ${(err as Error).message}`, 'pass a valid kubeconfig file', {
      cause: err,
    });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new EdgemarkError(
      'EM_NO_KUBECONFIG',
      `[target] kubeconfig ${path} has no current cluster`,
      'set current-context in it (kubectl config use-context ...)',
    );
  return { kubeconfig: path, apiserver: cluster.server, apiserverCa: caOf(cluster), name: `${path} (context ${kc.getCurrentContext()})` };
}

/** The target of these flags; refuses contradictory or missing ones with the fix. */
export function resolveTarget(flags: TargetFlags, stateDir: string): Target {
  if (flags.nodeKubeconfig !== undefined && (flags.bootstrapToken !== undefined || flags.bootstrapTokenFile !== undefined)) {
    throw new EdgemarkError(
      'EM_TARGET_INVALID',
      '[target] --node-kubeconfig and a bootstrap token were both given: nodes with a given identity do not bootstrap',
      'pass --node-kubeconfig, or --bootstrap-token(-file), not both',
    );
  }
  const given = flags.nodeKubeconfig !== undefined ? givenIdentityOf(flags.nodeKubeconfig) : undefined;
  const t = resolveBaseTarget(flags, stateDir);
  if (!given) {
    return {
      ...t,
      kubeletIdentitySource: `TLS bootstrap, token ${t.bootstrapTokenSource}`,
      kubeletCredentials: async () => ({ bootstrapToken: await t.bootstrapToken() }),
    };
  }
  return {
    ...t,
    kubeletIdentitySource: 'dir' in given ? `--node-kubeconfig ${given.dir}/<node>.kubeconfig` : `--node-kubeconfig ${given.source} (shared)`,
    kubeletCredentials: async () => ({ nodeKubeconfig: given }),
  };
}

type BaseTarget = Omit<Target, 'kubeletIdentitySource' | 'kubeletCredentials'>;

function resolveBaseTarget(flags: TargetFlags, stateDir: string): BaseTarget {
  if (flags.token !== undefined && flags.tokenFile !== undefined) {
    throw new EdgemarkError('EM_TARGET_INVALID', '[target] both --token and --token-file were given', 'pass one of them');
  }
  let fixed: string | undefined = flags.token?.trim();
  let tokenSource = fixed !== undefined ? '--token' : '';
  if (flags.tokenFile !== undefined) {
    fixed = readTokenFile(flags.tokenFile);
    tokenSource = `--token-file ${resolve(flags.tokenFile)}`;
  }
  const once = (read: () => Promise<string>): (() => Promise<string>) => {
    let p: Promise<string> | undefined;
    return () =>
      (p ??= read().then((t) => {
        parseToken(t); // a malformed token is refused before anything starts
        return t;
      }));
  };

  if (flags.kubeconfig) {
    const kc = kubeconfigTarget(flags.kubeconfig);
    const boot = bootstrapTokenOf(flags, kc.kubeconfig);
    if (!flags.cloudcore && flags.needsCloudcore === false) {
      return {
        name: kc.name,
        local: undefined,
        kubeconfig: kc.kubeconfig,
        cloudcore: [],
        apiserver: kc.apiserver,
        nodeLimit: undefined,
        tokenSource: 'none (no edge nodes)',
        token: async () => '',
        apiserverCa: kc.apiserverCa,
        bootstrapTokenSource: boot.source,
        bootstrapToken: boot.read,
      };
    }
    if (!flags.cloudcore) {
      throw new EdgemarkError(
        'EM_TARGET_INVALID',
        `[target] --kubeconfig names an existing cluster, but not where its CloudCore listens`,
        'pass --cloudcore <host:port> of its CloudHub websocket (port 10000 by default)',
      );
    }
    const fromSecret = fixed === undefined;
    return {
      name: kc.name,
      local: undefined,
      kubeconfig: kc.kubeconfig,
      cloudcore: cloudcoreAddresses(flags.cloudcore, flags.cloudcoreHttps),
      apiserver: kc.apiserver,
      apiserverCa: kc.apiserverCa,
      bootstrapTokenSource: boot.source,
      bootstrapToken: boot.read,
      nodeLimit: undefined,
      tokenSource: fromSecret ? `secret ${TOKEN_SECRET.namespace}/${TOKEN_SECRET.name} through ${kc.kubeconfig}` : tokenSource,
      token: once(async () => {
        if (!fromSecret) return fixed!;
        try {
          return await readTokenSecret(kc.kubeconfig);
        } catch (err) {
          throw new EdgemarkError(
            'EM_NO_TOKEN',
            `[target] cannot read the join token through ${kc.kubeconfig}: ${(err as Error).message}`,
            'pass --token or --token-file, or give the kubeconfig read access to secret kubeedge/tokensecret',
            { cause: err },
          );
        }
      }),
    };
  }

  const local = readState(stateDir);
  if (flags.cloudcore) {
    if (fixed === undefined) {
      throw new EdgemarkError(
        'EM_NO_TOKEN',
        '[target] --cloudcore without --kubeconfig needs the join token',
        'pass --token or --token-file (secret kubeedge/tokensecret, key tokendata), or --kubeconfig to read it from the cluster',
      );
    }
    const t = fixed;
    return {
      name: `CloudCore ${flags.cloudcore}`,
      local: undefined,
      kubeconfig: undefined,
      cloudcore: cloudcoreAddresses(flags.cloudcore, flags.cloudcoreHttps),
      apiserver: undefined,
      apiserverCa: undefined,
      ...(() => {
        const b = bootstrapTokenOf(flags, undefined);
        return { bootstrapTokenSource: b.source, bootstrapToken: b.read };
      })(),
      nodeLimit: undefined,
      tokenSource,
      token: once(async () => t),
    };
  }
  if (!local) {
    throw new EdgemarkError(
      'EM_NO_CLOUDCORE',
      `[target] no control plane to join: no local cluster in ${stateDir}, and no --kubeconfig or --cloudcore`,
      'start the local cluster with `edgemark cluster up`, or pass --kubeconfig and --cloudcore of an existing one',
    );
  }
  if (cloudcoreCount(local) === 0 && flags.needsCloudcore === true) {
    throw new EdgemarkError(
      'EM_NO_CLOUDCORE',
      `[target] the local cluster in ${stateDir} is an EdgeSite: it has no CloudCore for edge nodes to join`,
      'run kubelet nodes (`--kind kubelet`, or `kind: kubelet` in spec.nodes), which talk to its kube-apiserver',
    );
  }
  const https = flags.cloudcoreHttps ? parseHostPort('--cloudcore-https', flags.cloudcoreHttps) : undefined;
  // Every CloudCore of the cluster, in instance order: node g dials instance g mod n first.
  const cloudcore = Array.from({ length: cloudcoreCount(local) }, (_, i) => {
    const p = cloudcorePorts(local.ports, i);
    return { websocket: `127.0.0.1:${p.cloudhubWebsocket}`, https: `https://${https ?? `127.0.0.1:${p.cloudhubHttps}`}` };
  });
  const boot = bootstrapTokenOf(flags, local.kubeconfig);
  // Read lazily where it matters: a state whose kubeconfig is gone still names its CloudCore.
  let localCa: string | undefined;
  try {
    localCa = kubeconfigTarget(local.kubeconfig).apiserverCa;
  } catch {
    localCa = undefined;
  }
  return {
    name: `local cluster in ${stateDir}`,
    local,
    kubeconfig: local.kubeconfig,
    cloudcore,
    apiserver: `https://127.0.0.1:${local.ports.apiserver}`,
    apiserverCa: localCa,
    bootstrapTokenSource: boot.source,
    bootstrapToken: boot.read,
    nodeLimit: local.nodeLimit * cloudcore.length,
    tokenSource: fixed !== undefined ? tokenSource : `secret ${TOKEN_SECRET.namespace}/${TOKEN_SECRET.name} of the local cluster`,
    token: once(async () => {
      if (fixed !== undefined) return fixed;
      try {
        return await readTokenSecret(local.kubeconfig);
      } catch (err) {
        throw new EdgemarkError(
          'EM_NO_TOKEN',
          `[target] cannot read the join token from the local cluster: ${(err as Error).message}`,
          'is the cluster up? `edgemark cluster status`',
          { cause: err },
        );
      }
    }),
  };
}

/** Refuses more nodes than the target's CloudCore takes, when its limit is known. */
export function checkNodeLimit(target: Target, count: number, what: string): void {
  if (target.nodeLimit === undefined || count <= target.nodeLimit) return;
  throw new EdgemarkError(
    'EM_NODE_LIMIT',
    target.cloudcore.length > 1
      ? `[${what}] ${count} nodes asked for, but the local CloudCores take at most ${target.nodeLimit} (cloudHub.nodeLimit ${target.nodeLimit / target.cloudcore.length} for each of ${target.cloudcore.length})`
      : `[${what}] ${count} nodes asked for, but the local CloudCore takes at most ${target.nodeLimit} (cloudHub.nodeLimit)`,
    `restart it with a higher limit: \`edgemark cluster down && edgemark cluster up --node-limit ${Math.ceil(count / target.cloudcore.length)}\``,
  );
}
