import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { addCloudcorePorts, assertPortsFree, choosePorts, cloudcorePorts, defaultPorts, findPortHolder, parseProcNetTcp, portNames } from './ports.js';

const procNetTcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1A0B 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1
`;

test('parseProcNetTcp keeps listening sockets only', () => {
  assert.deepEqual(parseProcNetTcp(procNetTcp), [{ port: 3306, inode: 31337 }]);
});

test('auto ports are distinct, and defaults are the well-known ones', async () => {
  const auto = await choosePorts('auto');
  assert.equal(new Set(portNames.map((n) => auto[n])).size, portNames.length);
  assert.equal((await choosePorts('default')).apiserver, 6443);
});

test('three CloudCores get six more distinct ports; a cluster that had one keeps its ports', async () => {
  const auto = await choosePorts('auto', 3);
  assert.equal(Object.keys(auto).length, portNames.length + 6);
  assert.equal(new Set(Object.values(auto)).size, portNames.length + 6);
  const grown = await addCloudcorePorts(defaultPorts, 'auto', 2);
  for (const n of portNames) assert.equal(grown[n], defaultPorts[n], n);
  assert.ok(!Object.values(defaultPorts).includes(cloudcorePorts(grown, 1).cloudhubWebsocket));
  assert.deepEqual(await addCloudcorePorts(auto, 'auto', 3), auto, 'ports it has are kept');
  assert.throws(() => cloudcorePorts(defaultPorts, 1), /no port planned for cloudhubWebsocket-1/);
});

test('a busy extra CloudCore port is named', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    await assert.rejects(assertPortsFree({ 'cloudhubHttps-1': port }), /\(cloudhubHttps-1\) is already in use/);
  } finally {
    srv.close();
  }
});

test('a busy port is reported with its number, its use and its holder', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    assert.equal(findPortHolder(port)?.pid, process.pid);
    const ports = { ...(await choosePorts('auto')), cloudhubHttps: port };
    await assert.rejects(assertPortsFree(ports), (e: unknown) => {
      assert.ok(e instanceof EdgemarkError);
      assert.equal(e.code, 'EM_PORT_BUSY');
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(cloudhubHttps\\) is already in use by pid ${process.pid}`));
      assert.match(e.fix ?? '', /--ports auto/);
      return true;
    });
  } finally {
    srv.close();
  }
  assert.equal(defaultPorts.cloudhubWebsocket, 10000);
});
