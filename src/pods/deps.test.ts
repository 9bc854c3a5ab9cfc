import assert from 'node:assert/strict';
import { test } from 'node:test';
import { depResource, podDependencies, waitingFor } from './deps.js';

test('dependencies: volumes, projected sources, envFrom, env refs; required wins over optional', () => {
  const deps = podDependencies({
    serviceAccountName: 'sa1',
    volumes: [
      { configMap: { name: 'cm-vol' } },
      { secret: { secretName: 'sec-vol', optional: true } },
      { projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607 } }, { configMap: { name: 'kube-root-ca.crt' } }] } },
    ],
    containers: [{ envFrom: [{ configMapRef: { name: 'cm-vol' } }], env: [{ valueFrom: { secretKeyRef: { name: 'sec-env' } } }] }],
  });
  const byName = Object.fromEntries(deps.map((d) => [`${d.kind}/${d.name}`, d]));
  assert.deepEqual(Object.keys(byName).sort(), ['configmap/cm-vol', 'configmap/kube-root-ca.crt', 'secret/sec-env', 'secret/sec-vol', 'token/sa1']);
  assert.equal(byName['configmap/cm-vol']!.via, 'env', 'an env reference blocks harder than a volume');
  assert.equal(byName['secret/sec-vol']!.optional, true);
  assert.equal(byName['token/sa1']!.expirationSeconds, 3607);
  assert.equal(depResource('ns', byName['token/sa1']!), 'ns/serviceaccounttoken/sa1');
  assert.deepEqual(waitingFor(byName['secret/sec-env']!), { reason: 'CreateContainerConfigError', message: 'secret "sec-env" not found' });
  assert.deepEqual(waitingFor(byName['configmap/kube-root-ca.crt']!), { reason: 'ContainerCreating' });
});
