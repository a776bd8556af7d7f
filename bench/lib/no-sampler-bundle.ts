/**
 * A bench-only build of proxy-rtmp whose system sampler (src/metrics/sampler.ts)
 * reads /proc once an hour instead of every second, to measure what that
 * sampler costs the ingest path. Not a product build: it rewrites the sampler's
 * default period while bundling.
 *
 *   node --import tsx bench/lib/no-sampler-bundle.ts   # → bench/.cache/proxy-rtmp-no-sampler.cjs
 *   npm run bench -- --only ingest --baseline bench/.cache/proxy-rtmp-no-sampler.cjs
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CACHE_DIR } from './inputs.ts';

const outfile = join(CACHE_DIR, 'proxy-rtmp-no-sampler.cjs');
await build({
  entryPoints: [join(import.meta.dirname, '..', '..', 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  define: { 'import.meta.url': 'importMetaUrl' },
  inject: [fileURLToPath(new URL('../../build/import-meta-url.js', import.meta.url))],
  plugins: [{
    name: 'hourly-sampler',
    setup(b) {
      b.onLoad({ filter: /metrics[/\\]sampler\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        const from = 'options.periodMs ?? 1000';
        if (!source.includes(from)) throw new Error(`${args.path} no longer has '${from}': update this script`);
        return { contents: source.replace(from, 'options.periodMs ?? 3_600_000'), loader: 'ts' };
      });
    },
  }],
});
process.stdout.write(`${outfile}\n`);
