import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { buildEdgemarkImage } from './edgemark.js';
import { nodeModulesFiles } from './node-modules.js';
import { parseLdd, sharedLibraries } from './node-runtime.js';

const work = mkdtempSync(join(tmpdir(), 'em-contents-'));
after(() => rmSync(work, { recursive: true, force: true }));

const code = (c: string) => (e: unknown) => e instanceof EdgemarkError && e.code === c;

function put(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
}

test('parseLdd keeps libraries and the loader, skips the vDSO, and refuses a missing library', () => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f73)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f73)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f73)',
  ].join('\n');
  assert.deepEqual(parseLdd(out, 'node'), ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  assert.deepEqual(parseLdd('\tstatically linked\n', 'pause'), []);
  assert.throws(() => parseLdd('\tlibfoo.so.1 => not found\n', 'addon.node'), code('EM_IMAGE_NO_LDD'));
});

test('node_modules: production packages only, without types, maps, sources or an addon build tree', () => {
  const root = join(work, 'pkg');
  put(root, {
    'package-lock.json': JSON.stringify({
      packages: {
        '': {},
        'node_modules/prod': {},
        'node_modules/prod/node_modules/nested': {},
        'node_modules/devonly': { dev: true },
        'node_modules/@types/node': {},
        'node_modules/other-platform': { optional: true },
        'node_modules/native': {},
      },
    }),
    'node_modules/prod/package.json': '{}',
    'node_modules/prod/index.js': '',
    'node_modules/prod/index.d.ts': '',
    'node_modules/prod/index.js.map': '',
    'node_modules/prod/README.md': '',
    'node_modules/prod/node_modules/nested/package.json': '{}',
    'node_modules/devonly/package.json': '{}',
    'node_modules/@types/node/package.json': '{}',
    'node_modules/native/package.json': '{}',
    'node_modules/native/binding.gyp': '',
    'node_modules/native/lib/index.js': '',
    'node_modules/native/src/addon.cpp': '',
    'node_modules/native/deps/sqlite3.c': '',
    'node_modules/native/build/Makefile': '',
    'node_modules/native/build/Release/addon.node': '',
    'node_modules/native/build/Release/obj.target/addon.node': '',
  });
  const { files, addons } = nodeModulesFiles(root, '/app');
  const paths = files.filter((f) => !f.dir).map((f) => f.path);
  assert.deepEqual(paths.sort(), [
    '/app/node_modules/native/binding.gyp',
    '/app/node_modules/native/build/Release/addon.node',
    '/app/node_modules/native/lib/index.js',
    '/app/node_modules/native/package.json',
    '/app/node_modules/prod/index.js',
    '/app/node_modules/prod/node_modules/nested/package.json',
    '/app/node_modules/prod/package.json',
  ]);
  assert.deepEqual(addons, [join(root, 'node_modules/native/build/Release/addon.node')]);

  rmSync(join(root, 'node_modules/native/build/Release/addon.node'));
  assert.throws(() => nodeModulesFiles(root, '/app'), code('EM_IMAGE_NO_NODE_MODULES'));
  rmSync(join(root, 'node_modules/prod'), { recursive: true });
  assert.throws(() => nodeModulesFiles(root, '/app'), code('EM_IMAGE_NO_NODE_MODULES'));
  rmSync(join(root, 'node_modules'), { recursive: true });
  assert.throws(() => nodeModulesFiles(root, '/app'), code('EM_IMAGE_NO_NODE_MODULES'));
});

test('the edgemark image needs the compiled dist/', async () => {
  const root = join(work, 'nodist');
  put(root, { 'package.json': '{}' });
  await assert.rejects(buildEdgemarkImage({ cacheDir: work, root, out: join(work, 'x.tar') }), code('EM_IMAGE_NO_DIST'));
});

test('a machine without ldd is told to install it', async () => {
  const saved = process.env.PATH;
  process.env.PATH = join(work, 'no-such-bin');
  try {
    await assert.rejects(sharedLibraries(process.execPath), (e: unknown) => code('EM_IMAGE_NO_LDD')(e) && /libc-bin/.test((e as EdgemarkError).fix ?? ''));
  } finally {
    process.env.PATH = saved;
  }
});
