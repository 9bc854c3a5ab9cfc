import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { components } from './components.js';
import { edgeControllerBuffer, edgeControllerLoad, renderCloudcoreConfig, renderSchedulerConfig } from './configs.js';
import { pkiPaths } from './pki.js';
import { choosePorts, defaultPorts } from './ports.js';

test('CloudCore config: loopback servers, our PKI, node limit, root-only modules off', () => {
  const pki = pkiPaths('/s');
  const cfg = parse(
    renderCloudcoreConfig({
      stateDir: '/s',
      kubeconfig: '/s/kubeconfig/cloudcore.kubeconfig',
      pki,
      ports: defaultPorts,
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
  const ports = await choosePorts('auto');
  const pki = pkiPaths('/s');
  const ctx = {
    stateDir: '/s',
    ports,
    pki,
    bin: { etcd: '/b', kubernetes: '/b', kubeedge: '/b' },
    kubeconfig: (id: string) => `/s/${id}`,
    configFile: (n: string) => `/s/config/${n}`,
  };
  for (const c of components) {
    const args = c.args(ctx).join(' ');
    assert.doesNotMatch(args, /0\.0\.0\.0/, c.name);
    for (const p of c.ports) {
      if (c.name === 'cloudcore') continue; // its ports live in its config file
      assert.ok(args.includes(String(ports[p])), `${c.name} uses ${p}`);
    }
  }
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
