#!/usr/bin/env node
// Installs the two thin-provisioning-tools oracles the tests compare against,
// when they are missing and we may: 0.9 (Debian 12's package) via apt-get,
// 1.1 via ../shared/tools/install-tpt11 into /opt/tpt-1.1. Never fails the
// test run: tests that need a missing oracle skip with a loud reason.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = process.getuid?.() === 0;
const say = (m) => process.stderr.write(`ensure-oracles: ${m}\n`);

function has(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (process.env.DMTHIN_NO_INSTALL) process.exit(0);

if (!has('thin_check') && !existsSync('/usr/sbin/thin_check')) {
  if (isRoot && has('apt-get')) {
    say('installing thin-provisioning-tools 0.9 (apt-get)');
    try {
      execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq thin-provisioning-tools'], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch {
      say('apt-get install thin-provisioning-tools failed: oracle tests will skip');
    }
  } else {
    say('thin_check not found and not root: install thin-provisioning-tools for the oracle tests');
  }
}

const installer = resolve(root, '..', 'shared', 'tools', 'install-tpt11');
if (!existsSync('/opt/tpt-1.1/thin_check')) {
  if (isRoot && existsSync(installer)) {
    say('installing thin-provisioning-tools 1.1 into /opt/tpt-1.1');
    try {
      execFileSync('bash', [installer], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch {
      say('install-tpt11 failed: 1.1 oracle tests will skip');
    }
  } else {
    say(`/opt/tpt-1.1 missing and ${existsSync(installer) ? 'not root' : `${installer} absent`}: 1.1 oracle tests will skip`);
  }
}
