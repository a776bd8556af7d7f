// Injected by build/bundle.ts: in the CommonJS bundle, `import.meta.url` reads this (the bundle file's own URL).
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
