/**
 * A given node identity instead of TLS bootstrap: a kubeconfig whose user is
 * what the nodes authenticate as. Either one kubeconfig every node of the run
 * shares (as a kubemark cluster hands its hollow nodes one), or a directory
 * holding `<node>.kubeconfig` for each node (identities issued by the
 * operator's own CA). Only the user's credentials are read (a client
 * certificate and key, or a bearer token); the nodes talk to the target's
 * kube-apiserver with its CA, whatever server the kubeconfig names.
 *
 * The credentials travel to the runner processes as data (never logged):
 * the directory form is read by each process itself, so it needs the
 * processes to share the file system (not the Kubernetes runtime).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { EdgemarkError } from '../core/errors.js';
import type { GivenCredential, GivenIdentity } from '../kind/kind.js';

export type { GivenCredential, GivenIdentity };

export const NODE_KUBECONFIG_SUFFIX = '.kubeconfig';

const fixText = 'give a kubeconfig whose current user has client-certificate(-data) and client-key(-data), or a token';

/** Reads the current user of a kubeconfig file; every way it can be unusable is a clear error. */
export function readNodeKubeconfig(file: string): GivenCredential {
  const path = resolve(file);
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new EdgemarkError('EM_NODE_KUBECONFIG', `[kubelet] cannot read node kubeconfig ${path}: ${(err as Error).message}`, fixText, { cause: err });
  }
  const user = kc.getCurrentUser();
  if (!user) {
    throw new EdgemarkError(
      'EM_NODE_KUBECONFIG',
      `[kubelet] node kubeconfig ${path} has no current user`,
      'set current-context to a context whose user is the node',
    );
  }
  const read = (data: unknown, f: unknown, what: string): string | undefined => {
    if ((data !== undefined && typeof data !== 'string') || (f !== undefined && typeof f !== 'string')) {
      throw new EdgemarkError('EM_NODE_KUBECONFIG', `[kubelet] node kubeconfig ${path}: user ${user.name}'s ${what} is not a string`, fixText);
    }
    if (data) return Buffer.from(data, 'base64').toString('utf8');
    if (!f) return undefined;
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new EdgemarkError('EM_NODE_KUBECONFIG', `[kubelet] node kubeconfig ${path}: cannot read its ${what} ${f}: ${(err as Error).message}`, fixText);
    }
  };
  const certPem = read(user.certData, user.certFile, 'client certificate');
  const keyPem = read(user.keyData, user.keyFile, 'client key');
  if ((certPem === undefined) !== (keyPem === undefined)) {
    throw new EdgemarkError(
      'EM_NODE_KUBECONFIG',
      `[kubelet] node kubeconfig ${path}: user ${user.name} has a client ${certPem ? 'certificate without its key' : 'key without its certificate'}`,
      fixText,
    );
  }
  if (certPem && (!certPem.includes('-----BEGIN CERTIFICATE-----') || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem!))) {
    throw new EdgemarkError('EM_NODE_KUBECONFIG', `[kubelet] node kubeconfig ${path}: user ${user.name}'s client certificate or key is not PEM`, fixText);
  }
  const rawToken: unknown = user.token;
  if (rawToken !== undefined && typeof rawToken !== 'string') {
    throw new EdgemarkError('EM_NODE_KUBECONFIG', `[kubelet] node kubeconfig ${path}: user ${user.name}'s token is not a string`, fixText);
  }
  const token = rawToken?.trim() || undefined;
  if (!certPem && !token) {
    throw new EdgemarkError(
      'EM_NODE_KUBECONFIG',
      `[kubelet] node kubeconfig ${path}: user ${user.name} has neither a client certificate nor a token${user.exec || user.authProvider ? ' (exec and auth-provider plugins are not run for hollow nodes)' : ''}`,
      fixText,
    );
  }
  return { user: user.name, ...(certPem ? { certPem, keyPem: keyPem! } : {}), ...(token ? { token } : {}) };
}

/** `--node-kubeconfig <file|dir>`: a file all nodes share, or a directory of <node>.kubeconfig. */
export function givenIdentityOf(flag: string): GivenIdentity {
  const path = resolve(flag);
  if (!existsSync(path)) {
    throw new EdgemarkError(
      'EM_NODE_KUBECONFIG',
      `[kubelet] --node-kubeconfig ${path} does not exist`,
      `pass a kubeconfig all kubelet nodes share, or a directory with <node-name>${NODE_KUBECONFIG_SUFFIX} for each node`,
    );
  }
  if (statSync(path).isDirectory()) {
    if (!readdirSync(path).some((f) => f.endsWith(NODE_KUBECONFIG_SUFFIX))) {
      throw new EdgemarkError(
        'EM_NODE_KUBECONFIG',
        `[kubelet] --node-kubeconfig directory ${path} holds no *${NODE_KUBECONFIG_SUFFIX} file`,
        `put <node-name>${NODE_KUBECONFIG_SUFFIX} there for each kubelet node (for example hollow-kubelet-0${NODE_KUBECONFIG_SUFFIX})`,
      );
    }
    return { dir: path };
  }
  return { shared: readNodeKubeconfig(path), source: path };
}

/** The file of one node in the directory form; missing is a clear error. */
export function nodeKubeconfigFile(dir: string, name: string): string {
  const f = join(dir, `${name}${NODE_KUBECONFIG_SUFFIX}`);
  if (!existsSync(f)) {
    throw new EdgemarkError(
      'EM_NODE_KUBECONFIG',
      `[kubelet] no kubeconfig for node ${name}: ${f} does not exist`,
      `put ${name}${NODE_KUBECONFIG_SUFFIX} in ${dir}, or lower the node count to the kubeconfigs there`,
    );
  }
  return f;
}
