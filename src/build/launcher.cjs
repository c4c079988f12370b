#!/usr/bin/env node
// dmthin's entry point (dist/dmthin.cjs, the `dmthin` bin and what thin_*
// symlinks name). It runs the bundle, dist/dmthin-bundle.cjs, with the V8
// code cache `npm run build` made for it (dist/dmthin-bundle.cache), so
// that Node does not parse and compile the 400 KB bundle again at every
// start: LVM runs thin_check at every pool activation. A cache V8 will not
// take (another Node version, other V8 flags, a stale file) is ignored and
// the bundle compiled as usual; nothing is ever written here. CommonJS,
// not ESM: Node loads it without its ES module loader (docs/PERFORMANCE.md,
// "Start-up").
'use strict';
const { readFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

const file = join(__dirname, 'dmthin-bundle.cjs');
let cachedData;
try {
  cachedData = readFileSync(join(__dirname, 'dmthin-bundle.cache'));
} catch {
  // No cache (a build that could not make one): compile.
}
const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, createRequire(file), bundle, file, __dirname);
