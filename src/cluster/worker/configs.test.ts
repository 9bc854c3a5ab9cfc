import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { containerdLauncher, kubeletArgs, renderCniConflist, renderContainerdConfig, renderKubeletConfig, shellQuote } from './configs.js';
import { workerLayout, workerPaths } from './layout.js';

const layout = workerLayout('/state', 0);
const paths = workerPaths(layout, '/state');

test("containerd's config keeps every path private and sets what this machine needs", () => {
  const toml = renderContainerdConfig({ paths, sandboxImage: 'localhost/edgemark-pause:1.0' });
  assert.match(toml, /^version = 2$/m);
  assert.match(toml, /^root = "\/state\/worker-0\/containerd\/root"$/m);
  assert.match(toml, /^state = "\/state\/worker-0\/containerd\/state"$/m);
  assert.match(toml, /^ {2}address = "\/state\/worker-0\/run\/containerd.sock"$/m);
  assert.match(toml, /restrict_oom_score_adj = true/);
  assert.match(toml, /netns_mounts_under_state_dir = true/);
  assert.match(toml, /sandbox_image = "localhost\/edgemark-pause:1.0"/);
  assert.match(toml, /SystemdCgroup = false/);
  assert.match(toml, /Root = "\/state\/worker-0\/runc"/);
  assert.match(toml, /bin_dir = "\/usr\/lib\/cni"/);
  assert.match(toml, /conf_dir = "\/state\/worker-0\/cni\/net.d"/);
  assert.doesNotMatch(toml, /\/var\/lib\/containerd|\/etc\/cni|\/opt\/cni|"\/run\/containerd/);
});

test('the CNI network: a bridge of this cluster, host-local under the state directory, portmap; no gateway mode, no masquerade', () => {
  const conf = JSON.parse(renderCniConflist(layout, paths)) as {
    name: string;
    plugins: {
      type: string;
      bridge?: string;
      isGateway?: boolean;
      ipMasq?: boolean;
      ipam?: { type: string; dataDir: string; ranges: { subnet: string }[][] };
    }[];
  };
  assert.equal(conf.name, layout.network);
  assert.deepEqual(
    conf.plugins.map((p) => p.type),
    ['bridge', 'portmap'],
  );
  const bridge = conf.plugins[0]!;
  assert.equal(bridge.bridge, layout.bridge);
  assert.equal(bridge.isGateway, false);
  assert.equal(bridge.ipMasq, false);
  assert.equal(bridge.ipam?.type, 'host-local');
  assert.equal(bridge.ipam?.dataDir, '/state/worker-0/cni/ipam');
  assert.equal(bridge.ipam?.ranges[0]?.[0]?.subnet, layout.podSubnet);
});

test('the KubeletConfiguration: node address, private socket and dirs, cgroupfs under its own root, webhook auth, no iptables', () => {
  const c = parse(
    renderKubeletConfig({
      layout,
      paths,
      ports: { kubelet: 41000, kubeletHealthz: 41001 },
      caCert: '/state/pki/ca.crt',
      servingCert: '/s.crt',
      servingKey: '/s.key',
    }),
  ) as Record<string, unknown> & { authentication: { anonymous: { enabled: boolean }; x509: { clientCAFile: string } }; authorization: { mode: string } };
  assert.equal(c.kind, 'KubeletConfiguration');
  assert.equal(c.address, layout.hostIp);
  assert.equal(c.port, 41000);
  assert.equal(c.healthzBindAddress, '127.0.0.1');
  assert.equal(c.healthzPort, 41001);
  assert.equal(c.readOnlyPort, 0);
  assert.equal(c.containerRuntimeEndpoint, 'unix:///state/worker-0/run/containerd.sock');
  assert.equal(c.cgroupDriver, 'cgroupfs');
  assert.equal(c.cgroupRoot, layout.cgroupRoot);
  assert.equal(c.failSwapOn, false);
  assert.equal(c.makeIPTablesUtilChains, false);
  assert.equal(c.podLogsDir, '/state/worker-0/pod-logs');
  assert.equal(c.staticPodPath, undefined);
  assert.equal(c.authentication.anonymous.enabled, false);
  assert.equal(c.authentication.x509.clientCAFile, '/state/pki/ca.crt');
  assert.equal(c.authorization.mode, 'Webhook');
  const args = kubeletArgs({ name: layout.name, hostIp: layout.hostIp, paths });
  assert.ok(args.includes(`--node-ip=${layout.hostIp}`));
  assert.ok(args.includes('--root-dir=/state/worker-0/kubelet'));
  assert.ok(args.includes('--node-labels=edgemark.io/worker=true'));
  assert.ok(args.includes('--hostname-override=edgemark-worker-0'));
});

test('the containerd launcher bind-mounts each masked sysctl, then execs containerd; quoting survives odd paths', () => {
  const script = containerdLauncher({ masks: [{ sysctl: 'vm/overcommit_memory', file: "/st ate/it's" }], config: '/c.toml' });
  assert.deepEqual(script.split('\n'), [`mount --bind '/st ate/it'\\''s' '/proc/sys/vm/overcommit_memory'`, `exec '/usr/bin/containerd' --config '/c.toml'`]);
  assert.equal(shellQuote('plain'), "'plain'");
});
