/**
 * Health probes of the components, as declared in components.ts.
 */
import { readFileSync } from 'node:fs';
import { httpGet } from '../core/http.js';
import { isNotFound, k8s, loadKubeConfig } from '../kube/client.js';
import type { ComponentContext, HealthProbe } from './components.js';
import { LOOPBACK, portOf } from './ports.js';

export interface Health {
  healthy: boolean;
  detail: string;
}

export const TOKEN_SECRET = { namespace: 'kubeedge', name: 'tokensecret', key: 'tokendata' } as const;

export async function probe(h: HealthProbe, ctx: ComponentContext): Promise<Health> {
  try {
    switch (h.kind) {
      case 'http': {
        const r = await httpGet(`http://${LOOPBACK}:${portOf(ctx.ports, h.port)}${h.path}`, { timeoutMs: 2000 });
        return { healthy: r.status === 200, detail: `${h.path} ${r.status}` };
      }
      case 'https': {
        const client = h.client ? ctx.pki.client(h.client) : undefined;
        const r = await httpGet(`https://${LOOPBACK}:${portOf(ctx.ports, h.port)}${h.path}`, {
          ca: readFileSync(ctx.pki.caCert),
          cert: client ? readFileSync(client.cert) : undefined,
          key: client ? readFileSync(client.key) : undefined,
          verify: h.verify === 'cluster-ca',
          timeoutMs: 2000,
        });
        return { healthy: r.status === 200, detail: `${h.path} ${r.status}` };
      }
      case 'cloudcore':
        return await probeCloudcore(ctx, portOf(ctx.ports, h.https));
    }
  } catch (err) {
    return { healthy: false, detail: err instanceof Error ? shortError(err) : String(err) };
  }
}

function shortError(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : (err.message.split('\n')[0] ?? 'error');
}

/** CloudCore is ready to take edge nodes when its certificate server hands out
 * its CA and its join token exists. */
async function probeCloudcore(ctx: ComponentContext, httpsPort: number): Promise<Health> {
  const r = await httpGet(`https://${LOOPBACK}:${httpsPort}/ca.crt`, {
    ca: readFileSync(ctx.pki.edgeCaCert),
    timeoutMs: 2000,
  });
  if (r.status !== 200) return { healthy: false, detail: `/ca.crt ${r.status}` };
  const core = loadKubeConfig(ctx.kubeconfig('admin')).makeApiClient(k8s.CoreV1Api);
  try {
    const s = await core.readNamespacedSecret({ name: TOKEN_SECRET.name, namespace: TOKEN_SECRET.namespace });
    if (!s.data?.[TOKEN_SECRET.key]) return { healthy: false, detail: 'token secret empty' };
  } catch (err) {
    if (isNotFound(err)) return { healthy: false, detail: 'no token secret yet' };
    throw err;
  }
  return { healthy: true, detail: '/ca.crt 200, token ready' };
}
