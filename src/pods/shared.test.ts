import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedDependencies, sharedSpec } from './shared.js';

const apiPodSpec = (cpu: string) => ({
  restartPolicy: 'Always',
  containers: [
    {
      name: 'c',
      image: 'registry.invalid/x:1',
      imagePullPolicy: 'IfNotPresent',
      terminationMessagePath: '/dev/termination-log',
      envFrom: [],
      resources: { requests: { cpu, memory: '1Mi' } },
      volumeMounts: [{ name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    },
  ],
  volumes: [
    {
      name: 'kube-api-access-abcde',
      projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt' } }] },
    },
  ],
});

test('pods with the same spec share one frozen copy of what a hollow node keeps', () => {
  const a = sharedSpec(apiPodSpec('1m'));
  const b = sharedSpec(apiPodSpec('1m'));
  assert.equal(a, b);
  assert.deepEqual(a, {
    containers: [{ name: 'c', image: 'registry.invalid/x:1', resources: { requests: { cpu: '1m', memory: '1Mi' } } }],
    restartPolicy: 'Always',
  });
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.containers[0]!.resources!.requests));
  assert.throws(() => {
    (a.containers as unknown[]).push({});
  }, TypeError);
  const other = sharedSpec(apiPodSpec('2m'));
  assert.notEqual(other, a);
  assert.equal(other.containers[0]!.resources!.requests!.cpu, '2m');
});

test('dependency lists are shared too: a token and kube-root-ca.crt for the usual projected volume', () => {
  const d1 = sharedDependencies(apiPodSpec('1m'));
  const d2 = sharedDependencies(apiPodSpec('5m'));
  assert.equal(d1, d2);
  assert.deepEqual(d1.map((d) => `${d.kind}/${d.name}`).sort(), ['configmap/kube-root-ca.crt', 'token/default']);
});
