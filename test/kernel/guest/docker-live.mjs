// The seed's live Docker move on a real kernel, against the Docker fixture:
// activate, snapshot two containers (one mounted), read a file through the
// mount, release, deactivate; then Docker's view must be unchanged.
// Records observations in WORK_DIR/observed.json. Usage: node docker-live.mjs PROJECT_ROOT WORK_DIR
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root, work] = process.argv.slice(2);
const cli = join(root, 'dist', 'dmthin.cjs');
const env = { ...process.env, DM_DISABLE_UDEV: '1', DMTHIN_STATE_DIR: join(work, 'state') };
const sh = (argv) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const dmthin = (...a) => sh([process.execPath, cli, ...a]);
const loops = () => sh(['losetup', '--list', '--noheadings', '--output', 'NAME']).stdout.trim().split('\n').filter(Boolean).sort();
const dms = () => {
  const o = sh(['dmsetup', 'ls']).stdout.trim();
  return /No devices/.test(o)
    ? []
    : o
        .split('\n')
        .map((l) => l.split(/\s+/)[0])
        .sort();
};
const obs = {};
mkdirSync(work, { recursive: true });
const D = join(work, 'docker');
try {
  cpSync(join(root, 'fixtures', 'docker', 'tree'), D, { recursive: true });
  const files = join(D, 'devicemapper', 'devicemapper');
  mkdirSync(files, { recursive: true });
  for (const f of ['metadata', 'data']) sh(['sh', '-c', `xz -dc "${join(root, 'fixtures', 'docker', `${f}.xz`)}" > "${join(files, f)}"`]);
  const view = () => {
    const j = JSON.parse(dmthin('docker', 'ls', D, '--json').stdout);
    return {
      pool: j.pool.transaction_id,
      devices: j.devices.map((d) => [d.hash, d.device_id, d.mapped_bytes, d.transaction_id]),
      problems: j.problems.map((p) => p.kind),
    };
  };
  obs.baseline = { loops: loops(), dms: dms() };
  obs.before = view();
  obs.snapshotInactive = dmthin('docker', 'snapshot', D, 'web');
  const withFault = (fault, ...a) => {
    const r = spawnSync(process.execPath, [cli, ...a], { encoding: 'utf8', env: { ...env, DMTHIN_FAULT: fault } });
    return { code: r.status, stderr: r.stderr ?? '' };
  };
  obs.activateFault = {
    ...withFault('pool-activate:after-pool', 'docker', 'activate', D),
    after: { loops: loops(), dms: dms() },
    state: existsSync(join(work, 'state')) ? readdirSync(join(work, 'state')) : [],
  };
  obs.activate = dmthin('docker', 'activate', D);
  obs.activateAgain = dmthin('docker', 'activate', D);
  obs.snapWeb = dmthin('docker', 'snapshot', D, 'web', '--mount', join(work, 'mnt-web'), '--json');
  obs.webLog = existsSync(join(work, 'mnt-web', 'rootfs', 'var', 'log', 'app.log'))
    ? readFileSync(join(work, 'mnt-web', 'rootfs', 'var', 'log', 'app.log'), 'utf8')
    : null;
  obs.webId = existsSync(join(work, 'mnt-web', 'id')) ? readFileSync(join(work, 'mnt-web', 'id'), 'utf8').trim() : null;
  obs.writeRefused = sh(['sh', '-c', `echo x > "${join(work, 'mnt-web', 'new')}"`]);
  obs.snapFault = { ...withFault('snap-create:before-activate', 'docker', 'snapshot', D, 'db'), dms: dms() };
  obs.snapDb = dmthin('docker', 'snapshot', D, 'db', '--json');
  obs.snapUnknown = dmthin('docker', 'snapshot', D, 'nosuch');
  obs.during = { dms: dms() };
  obs.deactivateBusy = dmthin('docker', 'deactivate', D);
  obs.releaseAll = dmthin('docker', 'release', D, '--all');
  obs.deactivate = dmthin('docker', 'deactivate', D);
  obs.final = { loops: loops(), dms: dms() };
  obs.after = view();
  obs.thinCheck = sh(['thin_check', join(files, 'metadata')]);
  obs.check = dmthin('check', join(files, 'metadata'));
} catch (e) {
  obs.exception = String(e?.stack ?? e);
} finally {
  for (const d of dms()) if (d.startsWith('docker-')) sh(['dmsetup', 'remove', '--noudevsync', d]);
}
writeFileSync(join(work, 'observed.json'), JSON.stringify(obs));
