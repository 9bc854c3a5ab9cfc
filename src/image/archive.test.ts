import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { extract, type Header } from 'tar-stream';
import { EdgemarkError } from '../core/errors.js';
import { type ImageSpec, withTag, writeImageArchive } from './archive.js';

const work = mkdtempSync(join(tmpdir(), 'em-image-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function readTar(bytes: Buffer): Promise<{ header: Header; data: Buffer }[]> {
  const out: { header: Header; data: Buffer }[] = [];
  const ex = extract();
  Readable.from([bytes]).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
    out.push({ header: entry.header, data: Buffer.concat(chunks) });
  }
  return out;
}

function spec(): ImageSpec {
  const host = join(work, 'tool');
  writeFileSync(host, '#!/bin/sh\necho hi\n');
  chmodSync(host, 0o755);
  return {
    name: 'localhost/test:1',
    layers: [
      [
        { path: '/usr/local/bin/tool', source: host, mode: 0o755 },
        { path: '/etc/passwd', content: 'root:x:0:0::/root:/sbin/nologin\n' },
        { path: '/tmp', dir: true, mode: 0o1777 },
        { path: '/bin/sh-link', symlink: '/usr/local/bin/tool' },
      ],
      [{ path: '/app/data.txt', content: 'data', uid: 65532, gid: 65532 }],
    ],
    entrypoint: ['/usr/local/bin/tool'],
    user: '65532',
    workingDir: '/app',
    env: ['PATH=/usr/local/bin'],
    labels: { b: '2', a: '1' },
    exposedPorts: ['8080/tcp'],
  };
}

test('the archive holds manifest.json, the config and one tar per layer, whose sha256 is its diff_id', async () => {
  const out = join(work, 'a.tar');
  const r = await writeImageArchive(spec(), out);
  const bytes = readFileSync(out);
  assert.equal(r.bytes, bytes.byteLength);
  const outer = await readTar(bytes);
  const names = outer.map((e) => e.header.name);
  assert.deepEqual(names, [...names].sort());
  const manifest = JSON.parse(outer.find((e) => e.header.name === 'manifest.json')!.data.toString());
  assert.equal(manifest.length, 1);
  assert.deepEqual(manifest[0].RepoTags, ['localhost/test:1']);
  const configEntry = outer.find((e) => e.header.name === manifest[0].Config)!;
  assert.equal(`sha256:${createHash('sha256').update(configEntry.data).digest('hex')}`, r.configDigest);
  const config = JSON.parse(configEntry.data.toString());
  assert.equal(config.os, 'linux');
  assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/tool']);
  assert.equal(config.config.User, '65532');
  assert.deepEqual(Object.keys(config.config.Labels), ['a', 'b']);
  assert.deepEqual(config.config.ExposedPorts, { '8080/tcp': {} });
  assert.equal(config.rootfs.type, 'layers');
  assert.equal(config.rootfs.diff_ids.length, 2);
  assert.equal(manifest[0].Layers.length, 2);
  for (const [i, path] of (manifest[0].Layers as string[]).entries()) {
    const layer = outer.find((e) => e.header.name === path)!;
    const sum = `sha256:${createHash('sha256').update(layer.data).digest('hex')}`;
    assert.equal(sum, config.rootfs.diff_ids[i]);
    assert.equal(sum, r.layers[i]!.diffId);
    assert.equal(layer.data.byteLength, r.layers[i]!.bytes);
  }
});

test('a layer lists parents first, in byte order, with the modes, owners and links asked for', async () => {
  const out = join(work, 'b.tar');
  await writeImageArchive(spec(), out);
  const outer = await readTar(readFileSync(out));
  const manifest = JSON.parse(outer.find((e) => e.header.name === 'manifest.json')!.data.toString());
  const base = await readTar(outer.find((e) => e.header.name === manifest[0].Layers[0])!.data);
  assert.deepEqual(
    base.map((e) => e.header.name),
    ['bin/', 'bin/sh-link', 'etc/', 'etc/passwd', 'tmp/', 'usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/tool'],
  );
  const byName = new Map(base.map((e) => [e.header.name, e]));
  assert.equal(byName.get('tmp/')!.header.mode, 0o1777);
  assert.equal(byName.get('usr/local/bin/tool')!.header.mode, 0o755);
  assert.equal(byName.get('usr/local/bin/tool')!.data.toString(), '#!/bin/sh\necho hi\n');
  assert.equal(byName.get('etc/passwd')!.header.mode, 0o644);
  assert.equal(byName.get('bin/sh-link')!.header.type, 'symlink');
  assert.equal(byName.get('bin/sh-link')!.header.linkname, '/usr/local/bin/tool');
  for (const e of base) assert.equal(e.header.mtime.getTime(), 0);
  const app = await readTar(outer.find((e) => e.header.name === manifest[0].Layers[1])!.data);
  const data = app.find((e) => e.header.name === 'app/data.txt')!;
  assert.equal(data.header.uid, 65532);
  assert.equal(data.header.gid, 65532);
});

test('the same inputs give the same bytes; a changed file changes the digest', async () => {
  const one = await writeImageArchive(spec(), join(work, 'c1.tar'));
  const two = await writeImageArchive(spec(), join(work, 'c2.tar'));
  assert.equal(one.configDigest, two.configDigest);
  assert.deepEqual(readFileSync(one.file), readFileSync(two.file));
  const changed = spec();
  changed.layers[1] = [{ path: '/app/data.txt', content: 'other', uid: 65532, gid: 65532 }];
  const three = await writeImageArchive(changed, join(work, 'c3.tar'));
  assert.notEqual(three.configDigest, one.configDigest);
  assert.equal(three.layers[0]!.diffId, one.layers[0]!.diffId);
});

test('a long path (over the 100 bytes of a plain tar header) survives', async () => {
  const deep = `/app/${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(120)}.js`;
  const r = await writeImageArchive({ name: 'localhost/long', layers: [[{ path: deep, content: 'x' }]] }, join(work, 'long.tar'));
  const outer = await readTar(readFileSync(r.file));
  const layer = await readTar(outer.find((e) => e.header.name.endsWith('/layer.tar'))!.data);
  assert.ok(layer.some((e) => `/${e.header.name}` === deep));
  const manifest = JSON.parse(outer.find((e) => e.header.name === 'manifest.json')!.data.toString());
  assert.deepEqual(manifest[0].RepoTags, ['localhost/long:latest']);
});

test('bad specs are refused with EM_IMAGE_INVALID, an unwritable output with EM_IMAGE_OUT_UNWRITABLE', async () => {
  const code = (c: string) => (e: unknown) => e instanceof EdgemarkError && e.code === c;
  await assert.rejects(writeImageArchive({ name: 'x', layers: [[{ path: 'relative', content: '' }]] }, join(work, 'x.tar')), code('EM_IMAGE_INVALID'));
  await assert.rejects(writeImageArchive({ name: 'x', layers: [[{ path: '/../etc', content: '' }]] }, join(work, 'x.tar')), code('EM_IMAGE_INVALID'));
  await assert.rejects(
    writeImageArchive(
      {
        name: 'x',
        layers: [
          [
            { path: '/a', content: '' },
            { path: '/a', content: '' },
          ],
        ],
      },
      join(work, 'x.tar'),
    ),
    code('EM_IMAGE_INVALID'),
  );
  await assert.rejects(
    writeImageArchive(
      {
        name: 'x',
        layers: [
          [
            { path: '/a', content: '' },
            { path: '/a/b', content: '' },
          ],
        ],
      },
      join(work, 'x.tar'),
    ),
    code('EM_IMAGE_INVALID'),
  );
  await assert.rejects(writeImageArchive({ name: 'x', layers: [[{ path: '/a', content: '', dir: true }]] }, join(work, 'x.tar')), code('EM_IMAGE_INVALID'));
  const blocker = join(work, 'file');
  writeFileSync(blocker, '');
  await assert.rejects(
    writeImageArchive({ name: 'x', layers: [[{ path: '/a', content: '' }]] }, join(blocker, 'sub', 'x.tar')),
    code('EM_IMAGE_OUT_UNWRITABLE'),
  );
  assert.throws(() => withTag('bad name'), code('EM_IMAGE_INVALID'));
  assert.equal(withTag('localhost:5000/edgemark'), 'localhost:5000/edgemark:latest');
  assert.equal(withTag('localhost:5000/edgemark:0.1.0'), 'localhost:5000/edgemark:0.1.0');
});
