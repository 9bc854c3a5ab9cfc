/**
 * Bootstrap tokens for kubelet nodes, as kubeadm makes them: a Secret
 * `bootstrap-token-<id>` of type bootstrap.kubernetes.io/token in kube-system,
 * usable for authentication, in the extra group system:bootstrappers:edgemark;
 * and the bindings that let that group create node CSRs and have them
 * approved (system:node-bootstrapper, ...:nodeclient) and nodes renew their
 * own (...:selfnodeclient). A given token is checked before anything starts:
 * a missing secret or a past expiration is named with the fix.
 */
import { randomBytes } from 'node:crypto';
import { EdgemarkError } from '../core/errors.js';
import { apiStatus, k8s, loadKubeConfig } from '../kube/client.js';

export const BOOTSTRAP_GROUP = 'system:bootstrappers:edgemark';
const NS = 'kube-system';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomToken(n: number): string {
  const b = randomBytes(n);
  return Array.from(b, (x) => ALPHABET[x % ALPHABET.length]).join('');
}

/** The RBAC bindings of the bootstrap group (idempotent). */
export async function ensureBootstrapRbac(kc: k8s.KubeConfig): Promise<void> {
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const bindings: [string, string, k8s.RbacV1Subject][] = [
    ['edgemark:kubelet-bootstrap', 'system:node-bootstrapper', { kind: 'Group', name: BOOTSTRAP_GROUP, apiGroup: 'rbac.authorization.k8s.io' }],
    [
      'edgemark:node-autoapprove-bootstrap',
      'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
      { kind: 'Group', name: BOOTSTRAP_GROUP, apiGroup: 'rbac.authorization.k8s.io' },
    ],
    [
      'edgemark:node-autoapprove-certificate-rotation',
      'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
      { kind: 'Group', name: 'system:nodes', apiGroup: 'rbac.authorization.k8s.io' },
    ],
  ];
  for (const [name, role, subject] of bindings) {
    try {
      await rbac.createClusterRoleBinding({
        body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [subject] },
      });
    } catch (err) {
      if (apiStatus(err) !== 409) throw err;
    }
  }
}

/** Makes a fresh token valid for `ttlHours`; returns `<id>.<secret>`. */
export async function createBootstrapToken(kubeconfig: string, ttlHours = 24): Promise<string> {
  const kc = loadKubeConfig(kubeconfig);
  await ensureBootstrapRbac(kc);
  const id = randomToken(6);
  const secret = randomToken(16);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedSecret({
    namespace: NS,
    body: {
      metadata: { name: `bootstrap-token-${id}`, namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'edgemark' } },
      type: 'bootstrap.kubernetes.io/token',
      stringData: {
        description: 'edgemark: hollow kubelet nodes TLS bootstrap',
        'token-id': id,
        'token-secret': secret,
        expiration: new Date(Date.now() + ttlHours * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        'usage-bootstrap-authentication': 'true',
        'auth-extra-groups': BOOTSTRAP_GROUP,
      },
    },
  });
  return `${id}.${secret}`;
}

/**
 * Checks a given token against its secret, when the kubeconfig may read it:
 * no secret, a different secret, or a past expiration is refused with the
 * fix. A kubeconfig that may not read kube-system secrets skips the check (the
 * apiserver's 401 will say it later).
 */
export async function checkBootstrapTokenSecret(kubeconfig: string, token: string, now = Date.now()): Promise<void> {
  const [id, value] = token.split('.') as [string, string];
  const core = loadKubeConfig(kubeconfig).makeApiClient(k8s.CoreV1Api);
  let s: k8s.V1Secret;
  try {
    s = await core.readNamespacedSecret({ name: `bootstrap-token-${id}`, namespace: NS });
  } catch (err) {
    const code = apiStatus(err);
    if (code === 404) {
      throw new EdgemarkError(
        'EM_BOOTSTRAP_TOKEN_REJECTED',
        `[target] bootstrap token ${id}.****: the cluster has no secret ${NS}/bootstrap-token-${id} (wrong token, or deleted by the token cleaner after it expired)`,
        'leave --bootstrap-token out to have a fresh one made, or create one (kubeadm token create)',
      );
    }
    return;
  }
  const data = (k: string) => (s.data?.[k] ? Buffer.from(s.data[k]!, 'base64').toString('utf8') : undefined);
  if (data('token-secret') !== value) {
    throw new EdgemarkError(
      'EM_BOOTSTRAP_TOKEN_REJECTED',
      `[target] bootstrap token ${id}.****: its secret part does not match secret ${NS}/bootstrap-token-${id}`,
      'pass the token as <token-id>.<token-secret> from that secret, or leave --bootstrap-token out to have one made',
    );
  }
  const exp = data('expiration');
  if (exp && Date.parse(exp) <= now) {
    throw new EdgemarkError(
      'EM_BOOTSTRAP_TOKEN_REJECTED',
      `[target] bootstrap token ${id}.**** expired at ${exp}`,
      'leave --bootstrap-token out to have a fresh one made, or create one (kubeadm token create)',
    );
  }
  if (data('usage-bootstrap-authentication') !== 'true') {
    throw new EdgemarkError(
      'EM_BOOTSTRAP_TOKEN_REJECTED',
      `[target] bootstrap token ${id}.**** is not for authentication (usage-bootstrap-authentication is not "true")`,
      'set usage-bootstrap-authentication: "true" in its secret, or leave --bootstrap-token out to have one made',
    );
  }
}
