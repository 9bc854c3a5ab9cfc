import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCidr, podGateway, usedNetworks, workerLayout, workerNodeNameOf, workerPaths } from './layout.js';

test('a layout is a function of the state directory: names fit a Linux link name, addresses are private', () => {
  const a = workerLayout('/tmp/em-a', 0);
  assert.deepEqual(workerLayout('/tmp/em-a', 0), a);
  assert.equal(a.name, 'edgemark-worker-0');
  assert.equal(workerNodeNameOf(3), 'edgemark-worker-3');
  assert.match(a.id, /^[0-9a-f]{8}$/);
  for (const link of [a.vethHost, a.vethNode, a.bridge]) assert.ok(link.length <= 15, `${link} fits IFNAMSIZ`);
  assert.equal(a.netns, `em-${a.id}`);
  assert.equal(a.cgroupRoot, `/edgemark-${a.id}`);
  assert.match(a.hostIp, /^10\.201\.\d+\.\d+$/);
  assert.match(a.podSubnet, /^10\.202\.\d+\.0\/24$/);
  // One /30: host end .1 and namespace end .2 of the same slot.
  const host = parseCidr(a.hostIp)!;
  assert.equal(host.base % 4, 1);
  assert.equal(parseCidr(a.nodeSideIp)!.base, host.base + 1);
  assert.equal(podGateway(a.podSubnet), `${a.podSubnet.replace(/\.0\/24$/, '.1')}/24`);
});

test('two clusters (two state directories) get different names and addresses', () => {
  const a = workerLayout('/tmp/em-it-aaaaaa', 0);
  const b = workerLayout('/tmp/em-it-bbbbbb', 0);
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.bridge, b.bridge);
  assert.notEqual(a.hostIp, b.hostIp);
  // A relative and an absolute spelling of one directory are one cluster.
  assert.equal(workerLayout('.', 0).id, workerLayout(process.cwd(), 0).id);
});

test('a network already on the machine is skipped for the next free slot', () => {
  const first = workerLayout('/tmp/em-a', 0);
  const next = workerLayout('/tmp/em-a', 0, [`${first.hostIp}/30`, first.podSubnet]);
  assert.notEqual(next.hostIp, first.hostIp);
  assert.notEqual(next.podSubnet, first.podSubnet);
  // A wide route over the whole range cannot be dodged: the first slot is kept and `ip` says why.
  assert.equal(workerLayout('/tmp/em-a', 0, ['10.0.0.0/8']).hostIp, first.hostIp);
});

test('usedNetworks reads addresses and routes of `ip -o -4 addr` and `ip -4 route show table all`', () => {
  const addr = [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '4: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\\       valid_lft forever',
  ].join('\n');
  const route = [
    'default via 10.0.2.2 dev eth0',
    '10.202.7.0/24 dev emabcdefb proto kernel scope link src 10.202.7.1',
    'local 10.0.2.15 dev eth0 table local proto kernel scope host src 10.0.2.15',
    'broadcast 10.0.2.255 dev eth0 table local proto kernel scope link src 10.0.2.15',
  ].join('\n');
  assert.deepEqual(usedNetworks(addr, route), ['127.0.0.1/8', '10.0.2.15/24', '10.202.7.0/24', '10.0.2.15', '10.0.2.255']);
});

test('worker files stay under the worker directory; logs beside the control plane logs', () => {
  const l = workerLayout('/s', 0);
  const p = workerPaths(l, '/s');
  for (const f of [p.containerdRoot, p.containerdState, p.socket, p.kubeletRoot, p.cniConfDir, p.cniIpamDir, p.runcRoot, p.podLogs, ...p.runtimeDirs]) {
    assert.ok(f.startsWith('/s/worker-0/'), f);
  }
  assert.equal(p.log('kubelet'), '/s/logs/worker-0-kubelet.log');
  assert.ok(!p.runtimeDirs.includes(p.config) && !p.runtimeDirs.includes(p.pki), 'down keeps configs and the PKI');
});
