import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolvePins } from '../../src/cluster/pins.js';
import { KUBELET_VERSION } from '../../src/kubelet/objects.js';

test('the hollow kubelet reports the version of the control plane it is pinned with', () => {
  assert.equal(KUBELET_VERSION, resolvePins().kubernetes.version);
});
