import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubemarkIp, kubemarkScript } from '../../bench/lib/kubemark.js';

test('the kubemark peer: each instance its own address, tmpfs over what kubemark writes, a relay to the host apiserver, then kubemark itself', () => {
  const s = kubemarkScript({ ip: kubemarkIp(0), apiserverPort: 6443, sock: '/var/tmp/k m/api.sock', hostsFile: '/var/tmp/x/hosts', binary: '/c/kubemark' });
  const lines = s.trim().split('\n');
  assert.equal(lines[0], 'set -eu');
  assert.ok(lines.includes('ip addr add 10.251.0.1/32 dev lo'));
  for (const d of ['/tmp', '/var/log', '/var/lib'])
    assert.ok(
      lines.some((l) => l.startsWith('mount -t tmpfs') && l.endsWith(` ${d}`)),
      d,
    );
  assert.ok(lines.includes("mount --bind '/var/tmp/x/hosts' /etc/hosts"));
  assert.match(s, /socat TCP-LISTEN:6443,bind=127\.0\.0\.1,fork,reuseaddr UNIX-CONNECT:'\/var\/tmp\/k m\/api\.sock'/);
  assert.ok(s.indexOf('0100007F:%04X') < s.indexOf('exec '), 'kubemark starts once the relay listens');
  assert.equal(lines.at(-1), `exec '/c/kubemark' "$@"`);
  assert.notEqual(kubemarkIp(255), kubemarkIp(256));
  assert.equal(kubemarkIp(256), '10.251.1.1');
});
