import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { cloudcoreSpec, components } from './components.js';
import { AUDIT_POLICY, edgeControllerBuffer, edgeControllerLoad, renderAuditPolicy, renderCloudcoreConfig, renderSchedulerConfig } from './configs.js';
import { pkiPaths } from './pki.js';
import { choosePorts, cloudcorePorts, defaultPorts, portOf } from './ports.js';

test('CloudCore config: loopback servers, our PKI, node limit, root-only modules off', () => {
  const pki = pkiPaths('/s');
  const cfg = parse(
    renderCloudcoreConfig({
      stateDir: '/s',
      kubeconfig: '/s/kubeconfig/cloudcore.kubeconfig',
      pki,
      ports: cloudcorePorts(defaultPorts, 0),
      instance: 0,
      nodeLimit: 5000,
      advertiseAddress: ['127.0.0.1'],
    }),
  );
  assert.equal(cfg.kind, 'CloudCore');
  assert.equal(cfg.kubeAPIConfig.kubeConfig, '/s/kubeconfig/cloudcore.kubeconfig');
  const hub = cfg.modules.cloudHub;
  assert.deepEqual(hub.websocket, { enable: true, address: '127.0.0.1', port: 10000 });
  assert.deepEqual(hub.https, { enable: true, address: '127.0.0.1', port: 10002 });
  assert.equal(hub.quic.enable, false);
  assert.equal(hub.nodeLimit, 5000);
  assert.deepEqual(hub.advertiseAddress, ['127.0.0.1']);
  assert.equal(hub.tlsCAFile, pki.edgeCaCert);
  assert.equal(hub.tlsCAKeyFile, pki.edgeCaKey);
  assert.match(hub.unixsocket.address, /^unix:\/\/\/s\//);
  assert.equal(cfg.modules.iptablesManager.enable, false);
  assert.equal(cfg.commonConfig.monitorServer.bindAddress, '127.0.0.1:9091');
});

test('scheduler config disables leader election and raises client QPS', () => {
  const cfg = parse(renderSchedulerConfig({ kubeconfig: '/k' }));
  assert.equal(cfg.leaderElection.leaderElect, false);
  assert.equal(cfg.clientConnection.kubeconfig, '/k');
  assert.ok(cfg.clientConnection.qps >= 100);
});

test('every server of every component binds loopback, on the planned ports', async () => {
  const ports = await choosePorts('auto', 3);
  const pki = pkiPaths('/s');
  const ctx = {
    stateDir: '/s',
    ports,
    pki,
    bin: { etcd: '/b', kubernetes: '/b', kubeedge: '/b' },
    kubeconfig: (id: string) => `/s/${id}`,
    configFile: (n: string) => `/s/config/${n}`,
    audit: false,
  };
  for (const c of components(3)) {
    const args = c.args(ctx).join(' ');
    assert.doesNotMatch(args, /0\.0\.0\.0/, c.name);
    for (const p of c.ports) {
      if (c.toolset === 'kubeedge') continue; // CloudCore's ports live in its config file
      assert.ok(args.includes(String(portOf(ports, p))), `${c.name} uses ${p}`);
    }
  }
});

test('a second CloudCore: its own ports, config file, log name and socket; the same PKI and node limit', async () => {
  const ports = await choosePorts('auto', 2);
  const pki = pkiPaths('/s');
  const render = (instance: number) =>
    parse(
      renderCloudcoreConfig({
        stateDir: '/s',
        kubeconfig: '/s/kubeconfig/cloudcore.kubeconfig',
        pki,
        ports: cloudcorePorts(ports, instance),
        instance,
        nodeLimit: 1000,
        advertiseAddress: ['127.0.0.1'],
      }),
    );
  const [first, second] = [render(0), render(1)];
  const hub = second.modules.cloudHub;
  assert.deepEqual(hub.websocket, { enable: true, address: '127.0.0.1', port: ports['cloudhubWebsocket-1'] });
  assert.deepEqual(hub.https, { enable: true, address: '127.0.0.1', port: ports['cloudhubHttps-1'] });
  assert.equal(second.commonConfig.monitorServer.bindAddress, `127.0.0.1:${ports['cloudcoreMetrics-1']}`);
  const own = (c: typeof first) => [
    c.modules.cloudHub.websocket.port,
    c.modules.cloudHub.https.port,
    c.commonConfig.monitorServer.bindAddress,
    c.modules.cloudHub.unixsocket.address,
  ];
  for (const [i, v] of own(second).entries()) assert.notEqual(v, own(first)[i], 'nothing of its own is shared with the first');
  assert.equal(hub.unixsocket.address, 'unix:///s/run/kubeedge-1.sock');
  // What the instances share: one CA and serving certificate, so one join token works at both.
  for (const k of ['tlsCAFile', 'tlsCAKeyFile', 'tlsCertFile', 'tlsPrivateKeyFile', 'nodeLimit', 'advertiseAddress'])
    assert.deepEqual(hub[k], first.modules.cloudHub[k], k);
  assert.equal(second.modules.cloudStream.enable, false);

  const spec = cloudcoreSpec(1);
  assert.equal(spec.name, 'cloudcore-1');
  assert.deepEqual(spec.ports, ['cloudhubWebsocket-1', 'cloudhubHttps-1', 'cloudcoreMetrics-1']);
  assert.deepEqual(spec.health, { kind: 'cloudcore', https: 'cloudhubHttps-1' });
  assert.deepEqual(spec.args({ configFile: (n: string) => `/s/config/${n}` } as never), ['--config=/s/config/cloudcore-1.yaml', '--v=2']);
  assert.deepEqual(
    components(2).map((c) => c.name),
    ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'cloudcore', 'cloudcore-1'],
  );
  assert.deepEqual(cloudcorePorts(await choosePorts('default', 2), 1), { cloudhubWebsocket: 10010, cloudhubHttps: 10012, cloudcoreMetrics: 9092 });
});

test("every edgecontroller queue a hollow node feeds is sized from the node limit, not CloudCore's default of 500", () => {
  const load = edgeControllerLoad(5000);
  const buffer = edgeControllerBuffer(5000);
  for (const k of ['patchPodWorkers', 'patchNodeWorkers', 'createNodeWorkers', 'updateNodeWorkers', 'queryLeaseWorkers']) assert.ok(load[k]! >= 500, k);
  assert.equal(load.createLeaseWorkers, 5000);
  for (const k of ['patchPod', 'patchNode', 'createNode', 'queryNode', 'updateNode', 'createLease', 'queryLease']) assert.ok(buffer[k]! >= 10_000, k);
  // Small limits keep CloudCore's own minimums.
  assert.equal(edgeControllerLoad(100).createNodeWorkers, 100);
  assert.equal(edgeControllerBuffer(100).createNode, 1024);
});

test('the audit log: off by default; on, kube-apiserver gets the policy and a rotated JSON log under the state directory, at level Metadata (no bodies)', async () => {
  const ports = await choosePorts('auto', 1);
  const ctx = {
    stateDir: '/s',
    ports,
    pki: pkiPaths('/s'),
    bin: { etcd: '/b', kubernetes: '/b', kubeedge: '/b' },
    kubeconfig: (id: string) => `/s/${id}`,
    configFile: (n: string) => `/s/config/${n}`,
    audit: false,
  };
  const apiserver = components(1).find((c) => c.name === 'kube-apiserver')!;
  assert.doesNotMatch(apiserver.args(ctx).join(' '), /--audit/);
  const on = apiserver.args({ ...ctx, audit: true });
  assert.ok(on.includes(`--audit-policy-file=/s/config/${AUDIT_POLICY}`));
  assert.ok(on.includes('--audit-log-path=/s/logs/audit.log'));
  assert.ok(on.includes('--audit-log-format=json'));
  assert.ok(on.some((a) => a.startsWith('--audit-log-maxsize=')));
  const policy = parse(renderAuditPolicy()) as { kind: string; rules: { level: string }[]; omitStages: string[] };
  assert.equal(policy.kind, 'Policy');
  assert.deepEqual(policy.rules, [{ level: 'Metadata' }]);
  assert.deepEqual(policy.omitStages, ['RequestReceived']);
});
