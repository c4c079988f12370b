import type { Command } from 'commander';
import { DIFF_DESCRIPTION, diffAction } from './diff.js';
import { DOCKER_ROOTFS, containerDiffSides } from '../docker/diff-container.js';
import { withPoolSource } from './pool-verb.js';
import { withOutput, withOutputAsync } from '../io/output-file.js';
import { inventory, type Inventory } from '../docker/inventory.js';
import { findDockerDevice } from '../docker/tree.js';
import { openDockerPool } from '../docker/pool-source.js';
import { dockerActivate, dockerDeactivate, dockerRelease, dockerSnapshot } from '../docker/live.js';
import { humanSize } from '../format/units.js';
import { exportDevice } from '../thin/export.js';
import { send } from '../stream/send.js';
import { openMetadata } from '../thin/pool-source.js';
import { alignColumns } from './columns.js';
import { announce, printJson } from './json.js';
import { doctorCommand, withDamageAdvice, withDamageAdviceAsync } from '../thin/damage.js';
import { rangeBytes } from '../io/byte-range.js';
import { formatDamagedExport } from './lost.js';
import { run } from './run.js';
import { parseThinIdArg } from './args.js';
import { ArgumentError } from '../errors.js';
import { dockerDoctor } from '../docker/doctor-docker.js';
import { kitHelp } from '../thin/doctor/kit-contents.js';
import { type DoctorFlags, doctorExit, printDoctor, refuseKitDir, writeDoctorKit } from './doctor-wrap.js';

const DEFAULT_ROOT = '/var/lib/docker';

function short(hash: string): string {
  return hash.length > 12 && !hash.endsWith('-init') ? hash.slice(0, 12) : hash.length > 17 ? `${hash.slice(0, 12)}-init` : hash;
}

export function formatInventory(inv: Inventory): string {
  const p = inv.pool;
  const lines: string[] = [];
  const bs = p.dataBlockSize ? humanSize(p.dataBlockSize * 512) : '?';
  lines.push(
    `pool ${p.name}: transaction ${p.transactionId ?? '?'}, ${bs} blocks, metadata ${p.metadataOk ? 'checks clean' : 'DAMAGED'}${p.heldMetadataSnap ? `, metadata snapshot held at ${p.heldMetadataSnap}` : ''}`,
  );
  lines.push(`  metadata ${p.metadataFile}`, `  data     ${p.dataFile}`, '');
  const header = ['ID', 'HASH', 'ROLE', 'CONTAINER', 'SIZE', 'MAPPED', 'EXCLUSIVE', 'TXN', 'ORIGIN'];
  const rows = inv.devices.map((d) => [
    String(d.deviceId),
    short(d.hash),
    d.role,
    d.container ?? '',
    humanSize(d.size),
    d.mappedBytes === undefined ? (d.inPool ? '?' : 'NOT IN POOL') : humanSize(d.mappedBytes),
    d.exclusiveBytes === undefined ? '' : humanSize(d.exclusiveBytes),
    String(d.transactionId),
    d.origin ? short(d.origin) : '',
  ]);
  for (const o of inv.orphanThins) rows.push([String(o.deviceId), '(none)', 'ORPHAN', '', '', humanSize(o.mappedBytes), '', '', '']);
  lines.push(...alignColumns([header, ...rows], 1));
  lines.push('');
  if (inv.deleted.length) {
    lines.push(`removed devices whose trees survive (dmthin export --deleted ID brings back what the evidence vouches for; docs/recovery.md):`);
    for (const r of inv.deleted) {
      const fate =
        r.discarded === true
          ? 'its data was discarded before the delete (every vouched-for block reads as zeros): nothing to bring back'
          : `${r.intact} intact, ${r.shared} shared, ${r.reallocated} reallocated, ${r.unknown} unknown`;
      lines.push(`  thin ${r.deviceId}${r.hash ? ` (${short(r.hash)})` : ''}: ${r.mappedBlocks} blocks mapped; ${fate}`);
    }
    lines.push('');
  }
  if (inv.problems.length === 0) lines.push("no problems: Docker's records and the pool agree");
  else {
    lines.push(`${inv.problems.length} problem${inv.problems.length > 1 ? 's' : ''}:`);
    for (const pr of inv.problems) lines.push(`  ${pr.kind}${pr.deviceId !== undefined ? ` (thin ${pr.deviceId})` : ''}: ${pr.detail}`);
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  const docker = program.command('docker').description("Docker's devicemapper storage driver: inventory and offline export");

  docker
    .command('ls')
    .description(
      "Joins what Docker recorded (devicemapper/metadata/*, layerdb, containers' configs) with the\n" +
        'thin metadata read offline: each device with its role, container, size, mapped and exclusive\n' +
        'bytes and origin; and every inconsistency, with what Docker would do about it.',
    )
    .argument('[root]', 'Docker root (a mounted disk image works)', DEFAULT_ROOT)
    .option('--metadata <file>', 'thin metadata file or device (direct-lvm), instead of ROOT/devicemapper/devicemapper/metadata')
    .option('--data <file>', 'data file or device')
    .option('--json', 'one object: {pool, devices, problems}')
    .action((root: string, o: { metadata?: string; data?: string; json?: boolean }) =>
      run(() => {
        const inv = inventory(openDockerPool(root, { metadata: o.metadata, data: o.data }));
        if (o.json) {
          const p = inv.pool;
          printJson({
            pool: {
              name: p.name,
              transactionId: p.transactionId ?? null,
              dataBlockSize: p.dataBlockSize ?? null,
              nrDataBlocks: p.nrDataBlocks ?? null,
              nextDeviceId: p.nextDeviceId ?? null,
              heldMetadataSnap: p.heldMetadataSnap ?? null,
              metadataOk: p.metadataOk,
              metadataFile: p.metadataFile,
              dataFile: p.dataFile,
              baseFilesystem: p.baseFilesystem ?? null,
            },
            devices: inv.devices.map((d) => ({
              hash: d.hash,
              deviceId: d.deviceId,
              size: d.size,
              transactionId: d.transactionId,
              initialized: d.initialized,
              deleted: d.deleted,
              inPool: d.inPool,
              mappedBytes: d.mappedBytes ?? null,
              exclusiveBytes: d.exclusiveBytes ?? null,
              container: d.container ?? null,
              containerId: d.containerId ?? null,
              role: d.role,
              origin: d.origin ?? null,
            })),
            orphanThins: inv.orphanThins.map((t) => ({ deviceId: t.deviceId, mappedBytes: t.mappedBytes })),
            removed: inv.deleted.map((r) => ({
              deviceId: r.deviceId,
              hash: r.hash ?? null,
              mappedBlocks: r.mappedBlocks,
              intact: r.intact,
              shared: r.shared,
              reallocated: r.reallocated,
              unknown: r.unknown,
              discarded: r.discarded ?? null,
            })),
            problems: inv.problems.map((pr) => ({ kind: pr.kind, deviceId: pr.deviceId ?? null, hash: pr.hash ?? null, detail: pr.detail })),
          });
        } else {
          process.stdout.write(formatInventory(inv));
        }
        return inv.problems.some((pr) => pr.kind === 'damaged-metadata') ? 1 : 0;
      }),
    );

  docker
    .command('doctor')
    .description(
      'What is wrong with the pool of a Docker devicemapper root, what is at risk and what to do next: its metadata judged as\n' +
        "dmthin doctor judges it (docs/doctor.md), each device named as Docker knows it (a container's layers by the container's\n" +
        "name, image layers and the base device by hash, Docker's sizes), and a plan in Docker's terms: Docker stopped first, the\n" +
        'pool files kept as found, the candidate blocks saved, the repaired metadata put in place of the loop file. Nothing is\n' +
        'written unless -o DIR (a new directory) asks for the kit.\n\n' +
        `${kitHelp()}\n\n` +
        'Exit status: 0 healthy, 1 problems found (or the pool cannot be read), 2 bad arguments.',
    )
    .argument('[root]', 'Docker root (a mounted disk image works)', DEFAULT_ROOT)
    .option('--metadata <file>', 'thin metadata file or device, instead of ROOT/devicemapper/devicemapper/metadata')
    .option('--data <file>', 'data file or device')
    .option('--json', 'print the report as one JSON object')
    .option('-o, --output <dir>', 'write the kit into DIR, a new directory')
    .action((root: string, o: DoctorFlags & { metadata?: string; data?: string }) =>
      run(() => {
        refuseKitDir(o.output);
        const dir = o.output;
        const report = dockerDoctor(root, {
          metadata: o.metadata,
          data: o.data,
          kit: dir === undefined ? undefined : (r, src, diag) => writeDoctorKit(dir, r, src, diag),
        });
        printDoctor([report], o, true);
        return doctorExit([report]);
      }),
    );

  docker
    .command('diff')
    .summary("what a container changed, in files, as docker diff lists it, from Docker's files")
    .description(
      `${DIFF_DESCRIPTION}\n\nCONTAINER (name or id) is compared with its init layer, as docker diff does, on a stopped or dead host: ` +
        "Docker's files are only read. A removed container (docker rm) is given by its layer's thin id, as dmthin docker ls lists " +
        'the removed devices, with --init ID for its init layer: both are read as recovery brings them back.',
    )
    .argument('<root>', 'Docker root')
    .argument('<container>', "container name or id, or a removed container layer's thin id (with --init)")
    .option('--init <id>', "a removed container's init layer, by thin id", parseThinIdArg)
    .option('--metadata <file>', 'thin metadata file or device (direct-lvm)')
    .option('--data <file>', 'data file or device (direct-lvm)')
    .option('--json', 'print {filesystem, changes[].{kind, path, inode, size_before, size_after}, changed_bytes, bytes_read}')
    .action((root: string, what: string, o: { metadata?: string; data?: string; json?: boolean; init?: number }) =>
      run(() => {
        const source = openDockerPool(root, { metadata: o.metadata, data: o.data });
        const sides = containerDiffSides(source.tree, what, o.init);
        return withPoolSource(source, (s) => diffAction(s, sides.before, sides.after, o, { under: DOCKER_ROOTFS }));
      }),
    );
  docker
    .command('export')
    .description(
      "Rebuilds a Docker device's bytes offline (see dmthin export), sized as Docker recorded it. WHAT is a\n" +
        'device hash (or a unique prefix), "base", or a container name or id (its container layer).',
    )
    .argument('<root>', 'Docker root')
    .argument('<what>', 'hash, base, or container name/id')
    .requiredOption('-o, --output <file>', 'output file, or - for standard output')
    .option('--metadata <file>', 'thin metadata file or device (direct-lvm)')
    .option('--data <file>', 'data file or device (direct-lvm)')
    .option('--at-metadata-snap', 'as the held metadata snapshot saw it')
    .option('--json', 'print the result as one JSON object')
    .action((root: string, what: string, o: { output: string; metadata?: string; data?: string; atMetadataSnap?: boolean; json?: boolean }) =>
      run(() => {
        const source = openDockerPool(root, { metadata: o.metadata, data: o.data });
        const dev = findDockerDevice(source.tree, what);
        return withDamageAdvice(source, () => {
          const md = openMetadata(source, { metadataSnap: o.atMetadataSnap });
          const t0 = Date.now();
          try {
            const r = withOutput(o.output, { inputs: source.files, binary: true, what: 'image' }, (out) =>
              exportDevice(md, source.data, dev.deviceId, out.fd, { size: dev.size || undefined }),
            );
            const seconds = (Date.now() - t0) / 1000;
            const doctor = doctorCommand(source);
            if (r.damage) r.damage.doctor = doctor;
            announce(
              o.json,
              `exported ${dev.hash} (thin ${dev.deviceId}, ${dev.role}${dev.container ? ` of ${dev.container}` : ''}): ${r.size} bytes, ${r.mappedBytes} mapped, in ${seconds.toFixed(2)} s`,
              { hash: dev.hash, deviceId: dev.deviceId, ...r, ...(r.lost ? { lostBytes: rangeBytes(r.lost) } : {}), seconds },
              process.stderr,
              o.output,
            );
            if (r.damage && !o.json) process.stderr.write(formatDamagedExport(dev.hash, r.lost ?? [], r.damage, doctor, r));
            return r.damage ? 1 : 0;
          } finally {
            md.close();
          }
        });
      }),
    );

  docker
    .command('send')
    .description(
      'A Docker device as a dmthin stream (see dmthin send), offline, sized as Docker recorded it: whole, or with\n' +
        '--base only what changed since another device of the same family (a container layer since its image:\n' +
        'what the container wrote). WHAT and --base are device hashes (or unique prefixes), "base", or container names or ids.',
    )
    .argument('<root>', 'Docker root')
    .argument('<what>', 'hash, base, or container name/id')
    .option('--base <what>', 'the device the receiver holds (hash, base, or container name/id)')
    .requiredOption('-o, --output <file>', 'stream file, or - for standard output')
    .option('--metadata <file>', 'thin metadata file or device (direct-lvm)')
    .option('--data <file>', 'data file or device (direct-lvm)')
    .option('--at-metadata-snap', 'as the held metadata snapshot saw it')
    .option('--json', 'print the result as one JSON object')
    .action((root: string, what: string, o: { base?: string; output: string; metadata?: string; data?: string; atMetadataSnap?: boolean; json?: boolean }) =>
      run(async () => {
        const source = openDockerPool(root, { metadata: o.metadata, data: o.data });
        const dev = findDockerDevice(source.tree, what);
        const base = o.base === undefined ? undefined : findDockerDevice(source.tree, o.base);
        return withDamageAdviceAsync(source, async () => {
          const md = openMetadata(source, { metadataSnap: o.atMetadataSnap });
          try {
            const r = await withOutputAsync(o.output, { inputs: source.files, binary: true, what: 'stream' }, (out) =>
              send(md, source.data, dev.deviceId, out.fd, { base: base?.deviceId, size: dev.size || undefined }),
            );
            announce(
              o.json,
              `sent ${dev.hash} (thin ${dev.deviceId}, ${dev.role}${dev.container ? ` of ${dev.container}` : ''})${base ? ` since ${base.hash} (thin ${base.deviceId})` : ' (full)'}: ${r.dataBlocks} blocks of data, ${r.zeroBlocks} discarded, ${r.bytes} bytes`,
              { hash: dev.hash, baseHash: base?.hash ?? null, ...r },
              process.stderr,
              o.output,
            );
          } finally {
            md.close();
          }
          return 0;
        });
      }),
    );

  docker
    .command('activate')
    .description(
      "Live, as root: when Docker is not running, attaches Docker's loop files and creates its pool\n" +
        'exactly as Docker names and configures it (docker-MAJ:MIN-INODE-pool, the block size in the\n' +
        'metadata, low water mark 32768, skip_block_zeroing). If the pool is up, uses it.',
    )
    .argument('[root]', 'Docker root', DEFAULT_ROOT)
    .option('--json', 'print the result as one JSON object')
    .action((root: string, o: { json?: boolean }) =>
      run(async () => {
        const r = await dockerActivate(root);
        announce(o.json, r.created ? `activated ${r.pool} on ${r.loops.join(', ')}` : `${r.pool} is already active (Docker running?): using it as is`, r);
        return 0;
      }),
    );

  docker
    .command('snapshot')
    .description(
      'Live, as root: snapshots a Docker device (hash, base or container name) under a thin id free in\n' +
        'the pool and unknown to Docker, activates it as <prefix>-dmthin-snap-<id> and, with --mount,\n' +
        'mounts it read-only (ext4: ro,noload; xfs: ro,norecovery,nouuid). An active origin is\n' +
        "suspended and always resumed. Docker's files and the pool's transaction id are not touched.",
    )
    .argument('<root>')
    .argument('<what>', 'hash, base, or container name/id')
    .option('--mount <dir>', 'mount the snapshot read-only at DIR')
    .option('--json', 'print what was created as JSON')
    .action((root: string, what: string, o: { mount?: string; json?: boolean }) =>
      run(async () => {
        const r = await dockerSnapshot(root, what, { mount: o.mount });
        if (o.json) printJson(r);
        else {
          process.stdout.write(
            `snapshot of ${r.origin} (thin ${r.originId}) as thin ${r.id}: ${r.device}${r.mountPoint ? `, mounted read-only (${r.fsType}) at ${r.mountPoint}` : ''}\n`,
          );
          process.stdout.write(`release it with: dmthin docker release ${root} ${r.dmName}\n`);
        }
        return 0;
      }),
    );

  docker
    .command('release')
    .description("Live: unmounts, removes and deletes dmthin's snapshot NAME (dm name or thin id), or all of them")
    .argument('<root>')
    .argument('[name]')
    .option('--all', "every dmthin snapshot of this Docker root's pool")
    .option('--json', 'print the result as one JSON object')
    .action((root: string, name: string | undefined, o: { all?: boolean; json?: boolean }) =>
      run(async () => {
        const which = o.all ? 'all' : name;
        if (!which) throw new ArgumentError('name a snapshot, or give --all');
        const released = await dockerRelease(root, which);
        announce(o.json, released.length ? `released ${released.join(', ')}` : 'nothing to release', { released });
        return 0;
      }),
    );

  docker
    .command('deactivate')
    .description('Live: removes the pool and loop devices that dmthin docker activate created (never a pool Docker made)')
    .argument('[root]', 'Docker root', DEFAULT_ROOT)
    .option('--json', 'print the result as one JSON object')
    .action((root: string, o: { json?: boolean }) =>
      run(async () => {
        const pool = await dockerDeactivate(root);
        announce(o.json, `deactivated ${pool}`, { deactivated: pool });
        return 0;
      }),
    );
}
