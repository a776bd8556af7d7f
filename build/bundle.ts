/**
 * Bundles src/ into one CommonJS file, dist/proxy-rtmp.cjs: the form a Node 20
 * single-executable application needs (sea-config.json), and runnable as
 * `node dist/proxy-rtmp.cjs` on its own. Run with `npm run build:bundle`.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Builds the bundle; returns its path. */
export async function bundle(outfile = 'dist/proxy-rtmp.cjs'): Promise<string> {
  await build({
    entryPoints: ['src/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // CommonJS has no import.meta: give modules that anchor on their own URL
    // (ffmpeg/locate.ts resolving ffmpeg-static) the bundle file's URL instead.
    define: { 'import.meta.url': 'importMetaUrl' },
    inject: [fileURLToPath(new URL('./import-meta-url.js', import.meta.url))],
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundle(process.argv[2]);
  process.stdout.write(`${out}\n`);
}
