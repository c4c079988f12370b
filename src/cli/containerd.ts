import type { Command } from 'commander';
import { containerdInventory, type ContainerdInventory } from '../containerd/inventory.js';
import { DEFAULT_CONTAINERD_ROOT, type ContainerdLocations, openContainerdPool } from '../containerd/pool-source.js';
import { elsewhere, findContainerdSnapshot } from '../containerd/find.js';
import { containerdDoctor } from '../containerd/doctor-containerd.js';
import { kitHelp } from '../thin/doctor/kit-contents.js';
import { type DoctorFlags, doctorExit, printDoctor, refuseKitDir, writeDoctorKit } from './doctor-wrap.js';
import { type RemovedReport, findRemoved, removedSnapshots } from '../containerd/removed.js';
import type { ContainerdPoolSource } from '../containerd/pool-source.js';
import type { Metadata } from '../thin/metadata.js';
import { exportDeleted } from '../thin/recover/export-deleted.js';
import { removedDiffSides, snapshotDiffSides } from '../containerd/diff-snapshot.js';
import { send } from '../stream/send.js';
import { withOutputAsync } from '../io/output-file.js';
import { withDamageAdviceAsync } from '../thin/damage.js';
import { DIFF_DESCRIPTION, diffAction } from './diff.js';
import { withPoolSource } from './pool-verb.js';
import { ArgumentError, UsageError } from '../errors.js';
import { MetadataError } from '../format/errors.js';
import { NoSuchSnapshot } from '../containerd/no-such-snapshot.js';
import { humanSize } from '../format/units.js';
import { rangeBytes } from '../io/byte-range.js';
import { withOutput } from '../io/output-file.js';
import { doctorCommand, withDamageAdvice } from '../thin/damage.js';
import { exportDevice } from '../thin/export.js';
import { openMetadata } from '../thin/pool-source.js';
import { alignColumns } from './columns.js';
import { announce, printJson } from './json.js';
import { formatDamagedExport } from './lost.js';
import { run } from './run.js';
import { parseSizeArg } from './args.js';

interface LocationFlags {
  root?: string;
  snapshotterRoot?: string;
  config?: string;
  metadata?: string;
  data?: string;
}

function locations(root: string | undefined, o: LocationFlags): ContainerdLocations {
  if (root && o.root && root !== o.root) throw new ArgumentError(`two containerd roots: ${root} and --root ${o.root}`);
  return { root: root ?? o.root ?? DEFAULT_CONTAINERD_ROOT, snapshotterRoot: o.snapshotterRoot, config: o.config, metadata: o.metadata, data: o.data };
}

function withLocationOptions(cmd: Command): Command {
  return cmd
    .option('--root <dir>', `containerd's root, as ROOT (default ${DEFAULT_CONTAINERD_ROOT})`)
    .option(
      '--snapshotter-root <dir>',
      "the devmapper snapshotter's root_path as you have it (default: ROOT/io.containerd.snapshotter.v1.devmapper, or the config's root_path under ROOT)",
    )
    .option('--config <file>', "containerd's config.toml: the pool's name (pool_name) and where root_path was")
    .option('--metadata <file>', "the thin pool's metadata device or file (containerd does not record it)")
    .option('--data <file>', "the thin pool's data device or file");
}

/** Commands that read the devices' bytes need the pool, which containerd never records. */
function needPool(verb: string, o: LocationFlags): void {
  if (o.metadata && !o.data) throw new ArgumentError(`${verb} reads the devices' bytes: give the pool's data too, --data D`);
  if (!o.metadata) throw new ArgumentError(`${verb} needs the pool: --metadata M --data D (containerd does not record where the pool's devices are)`);
}

const short = (key: string): string => (/^sha256:[0-9a-f]{64}$/.test(key) ? `sha256:${key.slice(7, 19)}` : key);

export function formatContainerdInventory(inv: ContainerdInventory): string {
  const p = inv.pool;
  const lines: string[] = [];
  lines.push(
    p.read
      ? `pool ${p.name}: transaction ${p.transactionId}, ${humanSize((p.dataBlockSize ?? 0) * 512)} blocks, metadata ${p.metadataOk ? 'checks clean' : 'DAMAGED'} (${p.metadataFile})`
      : p.metadataFile
        ? `pool ${p.name}: its metadata ${p.metadataFile} cannot be read (the problems below say why)`
        : `pool ${p.name}: not read (containerd does not record where its devices are: give --metadata M --data D for what each device maps and for export)`,
    '',
  );
  const header = ['NAMESPACE', 'KEY', 'KIND', 'PARENT', 'DEVICE', 'THIN', 'STATE', 'SIZE', 'MAPPED', 'CONTAINERS', 'IMAGES'];
  const rows = inv.snapshots.map((s) => [
    s.namespace,
    short(s.key),
    s.kind,
    s.parent ? short(s.parent) : '',
    s.deviceName ?? '(none)',
    s.deviceId === undefined ? '' : String(s.deviceId),
    s.state ?? '',
    s.size === undefined ? '' : humanSize(s.size),
    s.damaged ? 'DAMAGED' : s.mappedBytes !== undefined ? humanSize(s.mappedBytes) : s.inPool === false ? 'NOT IN POOL' : '',
    s.containers.join(','),
    s.images.join(','),
  ]);
  for (const t of inv.unknownThins) rows.push(['', '(none)', '', '', '', String(t.deviceId), '', '', humanSize(t.mappedBytes), '', '']);
  lines.push(...alignColumns([header, ...rows]), '');
  if (inv.problems.length === 0) lines.push(`no problems: containerd's store, the snapshotter's stores${p.read ? ' and the pool agree' : ' agree'}`);
  else {
    lines.push(`${inv.problems.length} problem${inv.problems.length > 1 ? 's' : ''}:`);
    for (const pr of inv.problems) lines.push(`  ${pr.code}: ${pr.detail}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatRemoved(report: RemovedReport, source: ContainerdPoolSource): string {
  const lines = [
    '',
    `removed snapshots whose thin devices survive in the pool (${report.removed.length}; ${report.pagesSearched} free pages of the stores searched for their names):`,
  ];
  for (const r of report.removed) {
    const fate =
      r.discarded === true
        ? 'its data was discarded before the delete (every vouched-for block reads as zeros): nothing to bring back'
        : `${r.intact} intact, ${r.shared} shared, ${r.reallocated} reallocated, ${r.unknown} unknown`;
    lines.push(`  thin ${r.deviceId}: ${r.mappedBlocks} blocks mapped; ${fate}`);
    for (const n of r.names) {
      const who = n.key ? `${n.namespace}/${n.key} (${n.kind}${n.parent ? `, parent ${short(n.parent)}` : ''})` : 'snapshot not named by any surviving record';
      lines.push(
        `    ${n.deviceName}, last ${n.state}: ${who}${n.containers.length ? `, container ${n.containers.join(', ')}` : ''} [${n.evidence.join('; ')}]`,
      );
    }
    if (r.names.length > 1) lines.push('    these records disagree (ids are reused): none is chosen; export by thin id');
    if (r.unnamed) lines.push(`    ${r.unnamed}`);
  }
  for (const n of report.notes) lines.push(`  note: ${n}`);
  if (report.removed.length) {
    lines.push(`  bring one back: dmthin containerd export ${source.root} KEY|THIN_ID --deleted -o FILE ${source.locationArgs}`);
    lines.push(`  what it changed: dmthin containerd diff ${source.root} KEY|THIN_ID --deleted [--parent KEY] ${source.locationArgs}`);
  }
  return `${lines.join('\n')}\n`;
}

export function removedJson(report: RemovedReport): unknown {
  return report.removed.map((r) => ({
    device_id: r.deviceId,
    mapped_blocks: r.mappedBlocks,
    intact: r.intact,
    shared: r.shared,
    reallocated: r.reallocated,
    unknown: r.unknown,
    discarded: r.discarded ?? null,
    size: r.size ?? null,
    names: r.names.map((n) => ({
      device_name: n.deviceName,
      snapshot_id: n.snapshotId ?? null,
      namespace: n.namespace ?? null,
      key: n.key ?? null,
      kind: n.kind ?? null,
      parent: n.parent ?? null,
      state: n.state,
      size: n.size,
      containers: n.containers,
      evidence: n.evidence,
    })),
    unnamed: r.unnamed ?? null,
  }));
}

/**
 * A name not found where it was looked for: when it is a live snapshot
 * asked for with --deleted, a removed one without, or in another namespace,
 * the refusal says that instead of listing everything.
 */
function hinted<T>(
  source: ContainerdPoolSource,
  inv: ContainerdInventory,
  what: string,
  namespace: string | undefined,
  askedRemoved: boolean,
  find: () => T,
): T {
  try {
    return find();
  } catch (e) {
    if (!(e instanceof NoSuchSnapshot)) throw e;
    let removed: RemovedReport | undefined;
    if (!askedRemoved && source.hasPool) {
      try {
        removed = withMetadata(source, (md) => removedSnapshots(source, md));
      } catch (m) {
        // The metadata cannot say: the refusal as it was.
        if (!(m instanceof MetadataError || m instanceof UsageError)) throw m;
      }
    }
    const why = elsewhere(inv, what, namespace, removed, askedRemoved);
    throw why ? new ArgumentError(why) : e;
  }
}

/** Runs `fn` on the pool's metadata, opened for it and closed after. */
function withMetadata<T>(source: ContainerdPoolSource, fn: (md: Metadata) => T): T {
  const md = openMetadata(source);
  try {
    return fn(md);
  } finally {
    md.close();
  }
}

export function inventoryJson(inv: ContainerdInventory): unknown {
  const p = inv.pool;
  return {
    pool: {
      name: p.name,
      read: p.read,
      metadata_file: p.metadataFile ?? null,
      data_file: p.dataFile ?? null,
      metadata_ok: p.metadataOk ?? null,
      transaction_id: p.transactionId ?? null,
      data_block_size: p.dataBlockSize ?? null,
      nr_data_blocks: p.nrDataBlocks ?? null,
    },
    snapshots: inv.snapshots.map((s) => ({
      namespace: s.namespace,
      key: s.key,
      kind: s.kind,
      parent: s.parent ?? null,
      snapshotter_key: s.snapshotterKey ?? null,
      snapshot_id: s.snapshotId ?? null,
      device_name: s.deviceName ?? null,
      device_id: s.deviceId ?? null,
      size: s.size ?? null,
      state: s.state ?? null,
      in_pool: s.inPool ?? null,
      damaged: s.damaged ?? false,
      mapped_bytes: s.mappedBytes ?? null,
      containers: s.containers,
      images: s.images,
      created_at: s.createdAt ?? null,
    })),
    unknown_thins: inv.unknownThins.map((t) => ({ device_id: t.deviceId, mapped_bytes: t.mappedBytes })),
    problems: inv.problems.map((pr) => ({
      code: pr.code,
      namespace: pr.namespace ?? null,
      key: pr.key ?? null,
      device_name: pr.deviceName ?? null,
      device_id: pr.deviceId ?? null,
      detail: pr.detail,
    })),
  };
}

export function register(program: Command): void {
  const ctd = program
    .command('containerd')
    .description("containerd's devmapper snapshotter: its snapshots by namespace and key, offline (three bbolt stores and the thin pool)");

  withLocationOptions(
    ctd
      .command('ls')
      .description(
        'Every devmapper snapshot containerd records, by namespace and key: kind, parent, the containers and\n' +
          'images that use it, its thin device (POOL-snap-ID, thin id, state) and, with --metadata and --data,\n' +
          "what the pool maps for it; then every place where containerd's store (ROOT/io.containerd.metadata.v1.bolt/\n" +
          "meta.db), the snapshotter's stores (metadata.db, POOL.db) and the pool disagree, each under a stable code.\n" +
          'Reads only; exit 1 when there are problems.',
      )
      .argument('[root]', `containerd's root (default ${DEFAULT_CONTAINERD_ROOT}; a mounted disk image's works)`),
  )
    .option(
      '--deleted',
      "also the removed snapshots whose thin devices survive in the pool's metadata, named by the records that survive in the stores' free pages (needs --metadata)",
    )
    .option(
      '--json',
      'one object: {pool, snapshots[].{namespace, key, kind, parent, device_name, device_id, size, mapped_bytes, containers, images, ...}, unknown_thins, problems[].{code, ...}; with --deleted removed[]}',
    )
    .action((root: string | undefined, o: LocationFlags & { json?: boolean; deleted?: boolean }) =>
      run(() => {
        if (o.deleted && !o.metadata) throw new ArgumentError("--deleted reads the pool's metadata for removed devices: give --metadata M (and --data D)");
        const source = openContainerdPool(locations(root, o));
        try {
          const inv = containerdInventory(source);
          const removed = o.deleted ? withMetadata(source, (md) => removedSnapshots(source, md)) : undefined;
          if (o.json) printJson({ ...(inventoryJson(inv) as object), ...(removed ? { removed: removedJson(removed) } : {}) });
          else process.stdout.write(formatContainerdInventory(inv) + (removed ? formatRemoved(removed, source) : ''));
          return inv.problems.length ? 1 : 0;
        } finally {
          source.close();
        }
      }),
    );

  withLocationOptions(
    ctd
      .command('export')
      .description(
        "Rebuilds a devmapper snapshot's bytes offline (see dmthin export), sized as the snapshotter recorded it.\n" +
          'WHAT is a snapshot key (as ctr snapshots ls shows it) or a container id (its snapshot).',
      )
      .argument('<root>', "containerd's root")
      .argument('<what>', 'snapshot key or container id'),
  )
    .requiredOption('-o, --output <file>', 'output file, or - for standard output')
    .option('-n, --namespace <ns>', 'the namespace WHAT is in (needed only when it is in more than one)')
    .option(
      '--deleted',
      'WHAT is a removed snapshot (its key, container id or thin id, as containerd ls --deleted lists it): what recovery vouches for is written, the rest left as zeros and counted',
    )
    .option('--include-unknown', 'with --deleted: write the blocks whose fate is unknown too (counted as unknown_written)')
    .option('--size <size>', 'with --deleted, for a device no surviving record sizes: its size (e.g. 64M; a bare number is bytes)', parseSizeArg)
    .option('--json', 'print the result as one JSON object')
    .action(
      (
        root: string,
        what: string,
        o: LocationFlags & { output: string; namespace?: string; json?: boolean; deleted?: boolean; includeUnknown?: boolean; size?: number },
      ) =>
        run(() => {
          needPool('export', o);
          if (!o.deleted && (o.includeUnknown || o.size !== undefined)) throw new ArgumentError('--include-unknown and --size go with --deleted');
          const source = openContainerdPool(locations(root, o));
          try {
            if (o.deleted) return exportRemoved(source, what, o);
            const inv = containerdInventory(source, { pool: 'none' });
            const snap = hinted(source, inv, what, o.namespace, false, () => findContainerdSnapshot(inv, what, o.namespace));
            const label = `${snap.namespace}/${snap.key}`;
            if (snap.deviceId === undefined) {
              throw new ArgumentError(`${label} has no device record (${inv.problems.find((p) => p.key === snap.key)?.detail ?? 'see dmthin containerd ls'})`);
            }
            const deviceId = snap.deviceId;
            return withDamageAdvice(source, () => {
              const md = openMetadata(source);
              const t0 = Date.now();
              try {
                const r = withOutput(o.output, { inputs: source.files, binary: true, what: 'image' }, (out) =>
                  exportDevice(md, source.data ?? '', deviceId, out.fd, { size: snap.size || undefined }),
                );
                const seconds = (Date.now() - t0) / 1000;
                const doctor = doctorCommand(source);
                if (r.damage) r.damage.doctor = doctor;
                announce(
                  o.json,
                  `exported ${label} (${snap.deviceName}, thin ${deviceId}${snap.containers.length ? `, container ${snap.containers.join(', ')}` : ''}): ${r.size} bytes, ${r.mappedBytes} mapped, in ${seconds.toFixed(2)} s`,
                  {
                    namespace: snap.namespace,
                    key: snap.key,
                    deviceName: snap.deviceName,
                    deviceId,
                    ...r,
                    ...(r.lost ? { lostBytes: rangeBytes(r.lost) } : {}),
                    seconds,
                  },
                  process.stderr,
                  o.output,
                );
                if (r.damage && !o.json) process.stderr.write(formatDamagedExport(label, r.lost ?? [], r.damage, doctor, r));
                return r.damage ? 1 : 0;
              } finally {
                md.close();
              }
            });
          } finally {
            source.close();
          }
        }),
    );

  withLocationOptions(
    ctd
      .command('diff')
      .description(
        `What a snapshot changed against its parent, in files: a container's snapshot against the image it was\n` +
          `made from (as docker diff), a committed layer against the one under it. WHAT is a snapshot key or a\n` +
          `container id. Needs --metadata and --data.\n\n${DIFF_DESCRIPTION}`,
      )
      .argument('<root>', "containerd's root")
      .argument('<what>', 'snapshot key or container id'),
  )
    .option('-n, --namespace <ns>', 'the namespace WHAT is in (needed only when it is in more than one)')
    .option('--deleted', 'WHAT is a removed snapshot (its key, container id or thin id, as containerd ls --deleted lists it), read as recovery brings it back')
    .option('--parent <key>', 'with --deleted: the live snapshot to compare it with, when no surviving record names its parent')
    .option('--json', 'print {filesystem, changes[].{kind, path, inode, size_before, size_after}, changed_bytes, bytes_read}')
    .action((root: string, what: string, o: LocationFlags & { namespace?: string; json?: boolean; deleted?: boolean; parent?: string }) =>
      run(() => {
        needPool('diff', o);
        if (o.parent !== undefined && !o.deleted) throw new ArgumentError("--parent goes with --deleted: a live snapshot's parent is recorded");
        const source = openContainerdPool(locations(root, o));
        try {
          const inv = containerdInventory(source, { pool: 'none' });
          const sides = hinted(source, inv, what, o.namespace, !!o.deleted, () =>
            o.deleted
              ? withMetadata(source, (md) => removedDiffSides(inv, removedSnapshots(source, md), md, what, o.namespace, o.parent))
              : snapshotDiffSides(inv, what, o.namespace),
          );
          return withPoolSource(source, (s) => diffAction(s, sides.before, sides.after, o));
        } finally {
          source.close();
        }
      }),
    );

  withLocationOptions(
    ctd
      .command('send')
      .description(
        'A snapshot as a dmthin stream (see dmthin send), offline, sized as the snapshotter recorded it: whole, or\n' +
          'with --base only what changed since another snapshot of the same family (a container since its image:\n' +
          'what the container wrote). WHAT and --base are snapshot keys or container ids.',
      )
      .argument('<root>', "containerd's root")
      .argument('<what>', 'snapshot key or container id'),
  )
    .option('--base <what>', 'the snapshot the receiver holds (key or container id)')
    .requiredOption('-o, --output <file>', 'stream file, or - for standard output')
    .option('-n, --namespace <ns>', 'the namespace WHAT and --base are in (needed only when a name is in more than one)')
    .option('--json', 'print the result as one JSON object')
    .action((root: string, what: string, o: LocationFlags & { base?: string; output: string; namespace?: string; json?: boolean }) =>
      run(async () => {
        needPool('send', o);
        const source = openContainerdPool(locations(root, o));
        try {
          const inv = containerdInventory(source, { pool: 'none' });
          const snap = hinted(source, inv, what, o.namespace, false, () => findContainerdSnapshot(inv, what, o.namespace));
          const base = o.base === undefined ? undefined : findContainerdSnapshot(inv, o.base, o.namespace);
          for (const s of [snap, base]) {
            if (s && s.deviceId === undefined)
              throw new ArgumentError(`${s.namespace}/${s.key} has no thin device in the snapshotter's records (dmthin containerd ls says why)`);
          }
          const deviceId = snap.deviceId ?? -1;
          return await withDamageAdviceAsync(source, async () => {
            const md = openMetadata(source);
            try {
              const r = await withOutputAsync(o.output, { inputs: source.files, binary: true, what: 'stream' }, (out) =>
                send(md, source.data ?? '', deviceId, out.fd, { base: base?.deviceId, size: snap.size || undefined }),
              );
              announce(
                o.json,
                `sent ${snap.namespace}/${snap.key} (thin ${deviceId})${base ? ` since ${base.namespace}/${base.key} (thin ${base.deviceId})` : ' (full)'}: ${r.dataBlocks} blocks of data, ${r.zeroBlocks} discarded, ${r.bytes} bytes`,
                { namespace: snap.namespace, key: snap.key, baseKey: base?.key ?? null, ...r },
                process.stderr,
                o.output,
              );
            } finally {
              md.close();
            }
            return 0;
          });
        } finally {
          source.close();
        }
      }),
    );

  withLocationOptions(
    ctd
      .command('doctor')
      .description(
        "What is wrong with the devmapper snapshotter's pool, what is at risk and what to do next: its metadata judged as\n" +
          'dmthin doctor judges it (docs/doctor.md), each thin named as containerd knows it (NAMESPACE/KEY, its container),\n' +
          "where containerd's stores disagree with it, and a plan in containerd's terms: containerd stopped first, the pool's\n" +
          'files and the stores kept as found, the candidate blocks saved, the repaired metadata put back. Needs --metadata and\n' +
          '--data. Nothing is written unless -o DIR (a new directory) asks for the kit.\n\n' +
          `${kitHelp()}\n\n` +
          'Exit status: 0 healthy, 1 problems found (or the pool cannot be read), 2 bad arguments.',
      )
      .argument('[root]', `containerd's root (default ${DEFAULT_CONTAINERD_ROOT})`),
  )
    .option('--json', 'print the report as one JSON object')
    .option('-o, --output <dir>', 'write the kit into DIR, a new directory')
    .action((root: string | undefined, o: LocationFlags & DoctorFlags) =>
      run(() => {
        refuseKitDir(o.output);
        const dir = o.output;
        const report = containerdDoctor(locations(root, o), {
          kit: dir === undefined ? undefined : (r, src, diag) => writeDoctorKit(dir, r, src, diag),
        });
        printDoctor([report], o, true);
        return doctorExit([report]);
      }),
    );
}

/** containerd export --deleted: a removed snapshot brought back as far as the evidence vouches. */
function exportRemoved(
  source: ContainerdPoolSource,
  what: string,
  o: { output: string; namespace?: string; json?: boolean; includeUnknown?: boolean; size?: number },
): number {
  return withMetadata(source, (md) => {
    const report = removedSnapshots(source, md);
    const r0 = hinted(source, containerdInventory(source, { pool: 'none' }), what, o.namespace, true, () => findRemoved(report, what, o.namespace));
    const size = o.size ?? r0.size;
    if (size === undefined) {
      throw new ArgumentError(`thin ${r0.deviceId}'s size is not told by any surviving record, and the pool's devices differ in size: give --size BYTES`);
    }
    const t0 = Date.now();
    const r = withOutput(o.output, { inputs: source.files, binary: true, what: 'image' }, (out) =>
      exportDeleted(md, report.scan, r0.deviceId, source.data ?? '', out.fd, { size, includeUnknown: o.includeUnknown }),
    );
    const seconds = (Date.now() - t0) / 1000;
    const n = r0.names.length === 1 ? r0.names[0] : undefined;
    const label = n?.key ? `${n.namespace}/${n.key} (thin ${r0.deviceId})` : `thin ${r0.deviceId}`;
    announce(
      o.json,
      `exported removed ${label}: ${r.writtenBlocks} of its ${r.mappedBlocks} mapped blocks written (${r.intact} intact, ${r.shared} shared${r.unknownWritten ? `, ${r.unknownWritten} unknown written as asked` : ''}); ${r.withheldBlocks} left as zeros (${r.reallocated} reallocated since, ${r.unknown - r.unknownWritten} unknown); ${r.size} bytes${r0.size === undefined || o.size !== undefined ? '' : n ? " (its record's size)" : ' (the size every device of the pool has)'} in ${seconds.toFixed(2)} s`,
      { ...r, namespace: n?.namespace ?? null, key: n?.key ?? null, seconds },
      process.stderr,
      o.output,
    );
    return 0;
  });
}
