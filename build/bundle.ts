/**
 * Bundles src/ into one CommonJS file, dist/proxy-rtmp.cjs: the form a Node 20
 * single-executable application needs (sea-config.json), and runnable as
 * `node dist/proxy-rtmp.cjs` on its own. Run with `npm run build:bundle`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Rewrites every non-ASCII UTF-16 unit of the bundle as a \uXXXX escape.
 * esbuild escapes strings, but keeps some comments of the bundled packages
 * (undici's curly quotes): one such character makes V8 hold the whole ~4 MB
 * source, kept for lazy compilation, as a two-byte string, 3.6 MiB more RSS
 * for the life of the process (issue 18). The escape means the same in a
 * string, template, regular expression or identifier, and nothing in a comment.
 */
export function asciiOnly(file: string): void {
  const source = readFileSync(file, 'utf8');
  if (!/[^\x00-\x7f]/.test(source)) return;
  writeFileSync(file, source.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

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
  asciiOnly(outfile);
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundle(process.argv[2]);
  process.stdout.write(`${out}\n`);
}
