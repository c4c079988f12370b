#!/usr/bin/env node
// Runs `npm ci` when node_modules is missing or older than package-lock.json,
// so that `npm test` and `npm run demo` work on a fresh clone with nothing
// installed (plain Node only: nothing here may need a dependency).
// npm records what it installed in node_modules/.package-lock.json.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');

function upToDate() {
  if (!existsSync(installed)) return false;
  const want = JSON.parse(readFileSync(lock, 'utf8')).packages ?? {};
  const have = JSON.parse(readFileSync(installed, 'utf8')).packages ?? {};
  // Every locked package (the root entry aside) must be installed at its locked version.
  return Object.entries(want).every(([path, p]) => path === '' || p.optional || have[path]?.version === p.version);
}

if (!upToDate()) {
  process.stderr.write('ensure-deps: node_modules is missing or out of date: running npm ci\n');
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  execFileSync(npm[0], [...npm[1], 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}
