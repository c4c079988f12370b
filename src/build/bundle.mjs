#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js) and its dependencies into
// one CommonJS file, dist/dmthin-bundle.cjs, run by the launcher
// dist/dmthin.cjs (src/build/launcher.cjs) with a V8 code cache made here.
// One module instead of ~40 cuts ~20 ms and ~6 MiB from every start; CommonJS
// and the cache cut ~20 ms more (docs/PERFORMANCE.md, "Start-up").
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const bundle = 'dist/dmthin-bundle.cjs';
const cache = 'dist/dmthin-bundle.cache';

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  // Whitespace and syntax only: names stay, so DMTHIN_DEBUG's stacks still read. Measured: -5 ms a start (docs/PERFORMANCE.md).
  minifyWhitespace: true,
  minifySyntax: true,
  // The sources are ES modules: src/builtins.ts makes its require() from import.meta.url, which CommonJS spells __filename.
  define: { 'import.meta.url': '__dmthinUrl' },
  banner: { js: "const __dmthinUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// Executable, so that thin_* symlinks to it run as they are (npm sets this only for installed bins).
copyFileSync('src/build/launcher.cjs', 'dist/dmthin.cjs');
chmodSync('dist/dmthin.cjs', 0o755);
// The entry point's name before the launcher: symlinks made by earlier instructions (thin_check for LVM) keep working.
writeFileSync(
  'dist/dmthin.mjs',
  "#!/usr/bin/env node\n// Kept for links made to dmthin's earlier entry point; dmthin.cjs starts faster.\nimport './dmthin.cjs';\n",
);
chmodSync('dist/dmthin.mjs', 0o755);

// The code cache: the bundle compiled and run once (dmthin --version, which
// builds every command's options), then V8 asked for the code of every
// function compiled so far, in a child so that the run's exit is its own.
// The launcher wraps and compiles the bundle exactly as done here; V8 takes
// the cache only for the same source, V8 version and flags.
rmSync(cache, { force: true });
const make = `
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { Script } = require('node:vm');
const file = ${JSON.stringify(`${process.cwd()}/${bundle}`)};
const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file });
process.on('exit', () => writeFileSync(${JSON.stringify(cache)}, script.createCachedData()));
process.argv = [process.execPath, file, '--version'];
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, createRequire(file), bundle, file, require('node:path').dirname(file));
`;
const r = spawnSync(process.execPath, ['-e', make], { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) process.stderr.write('bundle: no code cache made (dmthin will compile at every start)\n');
