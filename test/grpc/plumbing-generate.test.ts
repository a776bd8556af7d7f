import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { checkGenerated } from '../../build/generate-check.ts';

const run = promisify(execFile);

describe('generated code (src/gen)', () => {
  it('npm run generate:check passes: src/gen matches proto/', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'build/generate-check.ts'], { timeout: 60_000 });
    assert.match(stdout, /up to date/);
  });

  it('detects changed, missing and extra files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'proxy-rtmp-gencheck-'));
    try {
      for (const f of ['buf.yaml', 'buf.gen.yaml', 'proto', 'src/gen']) await cp(resolve(f), join(root, f), { recursive: true });
      await symlink(resolve('node_modules'), join(root, 'node_modules'));
      assert.deepEqual(await checkGenerated(root), []);
      await writeFile(join(root, 'src/gen/marchproxy/module/v1/module_pb.ts'), '// edited by hand\n');
      await rm(join(root, 'src/gen/grpc/health/v1/health_pb.ts'));
      await writeFile(join(root, 'src/gen/stray_pb.ts'), '');
      const diffs = await checkGenerated(root);
      assert.deepEqual(
        diffs.map((d) => `${d.kind} ${d.file}`).sort(),
        ['changed marchproxy/module/v1/module_pb.ts', 'extra stray_pb.ts', 'missing grpc/health/v1/health_pb.ts'],
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
