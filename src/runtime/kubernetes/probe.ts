/**
 * `edgemark fleet probe`, run by `fleet setup` as a Job on the external
 * cluster: from where the runner pods will run, can they reach the cluster
 * under test, and does CloudCore take the token? Each check prints one line
 * (`ok` or `FAIL` with the reason and fix); the process exits 1 if any failed.
 */
import { connect } from 'node:net';
import { splitHostPort } from '../../core/address.js';
import { EdgemarkError } from '../../core/errors.js';
import { fetchCloudCa, requestEdgeCertificate } from '../../transport/bootstrap.js';
import { parseToken } from '../../transport/token.js';

export interface ProbeTarget {
  cloudcore: { websocket: string; https: string }[];
  apiserver: string | undefined;
  token: string;
}

function tcp(hostPort: string, timeoutMs = 5000): Promise<void> {
  const hp = splitHostPort(hostPort)!;
  return new Promise((resolve, reject) => {
    const s = connect({ host: hp.host, port: hp.port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('timeout', () => {
      s.destroy();
      reject(new Error(`no answer in ${timeoutMs / 1000} s`));
    });
    s.once('error', reject);
  });
}

/** Every check, in order; a line each. */
export async function probe(t: ProbeTarget): Promise<{ ok: boolean; lines: string[] }> {
  const lines: string[] = [];
  let ok = true;
  const check = async (what: string, fn: () => Promise<void>, fix: string) => {
    try {
      await fn();
      lines.push(`ok    ${what}`);
    } catch (err) {
      ok = false;
      const e = err instanceof EdgemarkError ? err : undefined;
      lines.push(`FAIL  ${what}: ${(err as Error).message}${e?.fix ? ` (fix: ${e.fix})` : ` (fix: ${fix})`}`);
    }
  };
  let token: ReturnType<typeof parseToken> | undefined;
  await check(
    'the join token is a KubeEdge token, not expired',
    async () => {
      token = parseToken(t.token);
      if (token.expiresAt !== undefined && token.expiresAt < Date.now())
        throw new EdgemarkError('EM_TOKEN_EXPIRED', 'the join token has expired', 'read the current one from secret kubeedge/tokensecret');
    },
    'copy secret kubeedge/tokensecret of the cluster under test',
  );
  for (const c of t.cloudcore) {
    await check(
      `CloudCore websocket ${c.websocket} answers`,
      () => tcp(c.websocket),
      'CloudCore must be reachable from the pods: a Service or load balancer address, or hostNetwork where it listens on the node',
    );
    await check(
      `CloudCore ${c.https} serves the CA of the token, and takes the token`,
      async () => {
        if (!token) throw new Error('no valid token to try');
        const ca = await fetchCloudCa(c.https, token);
        await requestEdgeCertificate(c.https, ca, token, 'edgemark-setup-probe');
      },
      'check the address and the token',
    );
  }
  if (t.apiserver) {
    const u = new URL(t.apiserver);
    await check(
      `kube-apiserver ${u.host} answers`,
      () => tcp(`${u.hostname}:${u.port || 443}`),
      'kube-apiserver of the cluster under test must be reachable from the pods',
    );
  }
  return { ok, lines };
}
