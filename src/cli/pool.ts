import { type Command, Option } from 'commander';
import { Output } from '../io/output.js';
import { withOutput } from '../io/output-file.js';
import { Pool } from '../driver/pool.js';
import { humanSize } from '../format/units.js';
import type { PoolStatus } from '../driver/status.js';
import { dumpToOutput, type DumpFormat } from '../thin/dump/dump-format.js';
import { openMetadata } from '../thin/pool-source.js';
import { withLivePool } from '../driver/pool-source.js';
import { parseIntArg, parseSectorsArg, parseSizeArg, parseThinIdArg } from './args.js';
import { announce, printJson } from './json.js';
import { run } from './run.js';
import { ArgumentError } from '../errors.js';
import { livePoolDoctor } from '../driver/doctor-live.js';
import { kitHelp } from '../thin/doctor/kit-contents.js';
import { type DoctorFlags, doctorExit, printDoctor, refuseKitDir, writeDoctorKit } from './doctor-wrap.js';

export function describeStatus(p: Pool, s: PoolStatus): string {
  if (s.mode === 'fail') return `pool ${p.name}: FAILED (the kernel put it in fail mode; check its metadata offline)\n`;
  const bs = p.dataBlockSize * 512;
  const pct = (a: number, b: number): string => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');
  return [
    `pool ${p.name}: ${s.mode}${s.needsCheck ? ', NEEDS CHECK' : ''}`,
    `  transaction id    ${s.transactionId}`,
    `  data              ${s.usedDataBlocks}/${s.totalDataBlocks} blocks of ${humanSize(bs)} used (${pct(s.usedDataBlocks, s.totalDataBlocks)}, ${humanSize(s.usedDataBlocks * bs)} of ${humanSize(s.totalDataBlocks * bs)})`,
    `  metadata          ${s.usedMetadataBlocks}/${s.totalMetadataBlocks} blocks used (${pct(s.usedMetadataBlocks, s.totalMetadataBlocks)})`,
    `  metadata snapshot ${s.heldMetadataRoot === undefined ? 'none' : `held at block ${s.heldMetadataRoot}`}`,
    `  when full         ${s.errorIfNoSpace ? 'error I/O' : 'queue I/O'}; discards ${s.discardPassdown ? 'passed down' : 'not passed down'}`,
    `  devices           metadata ${p.metadataDevice}, data ${p.dataDevice}`,
    '',
  ].join('\n');
}

export function register(program: Command): void {
  const pool = program.command('pool').description('live thin pools (needs root and a kernel with dm-thin-pool)');

  pool
    .command('create')
    .description('create sparse data and metadata files, attach them to loop devices and create a thin-pool')
    .argument('<name>', 'device-mapper name of the pool')
    .requiredOption('--data <file>', 'data file (created sparse; must not hold data)')
    .requiredOption('--metadata <file>', 'metadata file (created sparse; must not hold data)')
    .requiredOption('--data-size <size>', 'data file size, e.g. 10G', parseSizeArg)
    .requiredOption('--metadata-size <size>', 'metadata file size, e.g. 16M', parseSizeArg)
    .requiredOption('--block-size <size>', 'data block size: a multiple of 64k up to 1G', parseSizeArg)
    .option('--low-water-mark <blocks>', 'raise an event when free data blocks drop below this', parseIntArg)
    .option('--skip-zeroing', 'do not zero newly provisioned blocks (faster; old data can show through)')
    .option('--error-if-no-space', 'fail I/O instead of queueing it when the pool is full')
    .option('--json', 'print the result as one JSON object')
    .action(
      (
        name: string,
        o: {
          data: string;
          metadata: string;
          dataSize: number;
          metadataSize: number;
          blockSize: number;
          lowWaterMark?: number;
          skipZeroing?: boolean;
          errorIfNoSpace?: boolean;
          json?: boolean;
        },
      ) =>
        run(async () => {
          const p = await Pool.create({
            name,
            dataFile: o.data,
            metadataFile: o.metadata,
            dataSize: o.dataSize,
            metadataSize: o.metadataSize,
            blockSize: o.blockSize,
            lowWaterMark: o.lowWaterMark,
            skipZeroing: o.skipZeroing,
            errorIfNoSpace: o.errorIfNoSpace,
          });
          announce(o.json, `created pool ${p.name} (${p.device}): metadata ${p.metadataDevice}, data ${p.dataDevice}`, {
            pool: p.name,
            device: p.device,
            metadataDevice: p.metadataDevice,
            dataDevice: p.dataDevice,
          });
          return 0;
        }),
    );

  pool
    .command('status')
    .description("the pool's kernel status: transaction id, space used, mode, metadata snapshot")
    .argument('<name>')
    .option('--json', 'print one JSON object')
    .action((name: string, o: { json?: boolean }) =>
      run(async () => {
        const p = await Pool.open(name);
        const s = await p.status();
        const thins = await p.activeThins();
        if (o.json) {
          printJson({ name: p.name, metadataDevice: p.metadataDevice, dataDevice: p.dataDevice, dataBlockSize: p.dataBlockSize, ...s, activeThins: thins });
        } else {
          process.stdout.write(describeStatus(p, s));
          for (const t of thins) process.stdout.write(`  active thin       ${t.id} as /dev/mapper/${t.name} (${humanSize(t.sectors * 512)})\n`);
        }
        return 0;
      }),
    );

  pool
    .command('destroy')
    .description('deactivate every thin of the pool, remove the pool and detach its loop devices (files are kept)')
    .argument('<name>')
    .option('--json', 'print the result as one JSON object')
    .action((name: string, o: { json?: boolean }) =>
      run(async () => {
        const p = await Pool.open(name);
        await p.destroy();
        announce(o.json, `removed pool ${name} and its thin devices; detached ${p.metadataDevice} ${p.dataDevice}`, {
          removed: name,
          detached: [p.metadataDevice, p.dataDevice],
        });
        return 0;
      }),
    );

  pool
    .command('dump')
    .description('dump a live pool: reserve a metadata snapshot, dump it, release it (always)')
    .argument('<name>')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['xml', 'human_readable', 'json']).default('xml'))
    .option('--json', 'the same as --format json')
    .option('-o, --output <file>', 'write to FILE instead of standard output')
    .action((name: string, o: { format: DumpFormat; output?: string; json?: boolean }) =>
      run(async () => {
        await withLivePool(name, (source) => {
          const md = openMetadata(source);
          try {
            withOutput(o.output ?? '-', { inputs: source.files, what: 'dump' }, (file) => {
              const out = new Output(file.fd);
              dumpToOutput(md, out, o.json ? 'json' : o.format);
              out.flush();
            });
          } finally {
            md.close();
          }
        });
        return 0;
      }),
    );

  pool
    .command('doctor')
    .description(
      "What is wrong with a running pool, what is at risk and what to do next: the kernel's status (fail or read-only mode, " +
        'needs_check, data space used up, metadata full or below the low-water mark) and its metadata judged as dmthin doctor ' +
        'judges it (docs/doctor.md), read through a metadata snapshot reserved for the while and always released (a pool in ' +
        'read-only or fail mode takes no messages and commits nothing: its metadata is read in place). Nothing is written to the pool.\n\n' +
        'Problems from the status: pool_failed, pool_read_only, needs_check_flag, data_space_exhausted, metadata_space_exhausted.\n\n' +
        `${kitHelp()}\n\n` +
        'Exit status: 0 healthy, 1 problems found (or the pool cannot be read), 2 bad arguments.',
    )
    .argument('<name>', "the pool's device-mapper name (an LVM pool: VG-POOL-tpool)")
    .option('--json', 'print the report as one JSON object')
    .option('-o, --output <dir>', 'write the kit into DIR, a new directory')
    .action((name: string, o: DoctorFlags) =>
      run(async () => {
        refuseKitDir(o.output);
        const dir = o.output;
        const report = await livePoolDoctor(name, { kit: dir === undefined ? undefined : (r, src, diag) => writeDoctorKit(dir, r, src, diag) });
        printDoctor([report], o, true);
        return doctorExit([report]);
      }),
    );

  const thin = program.command('thin').description('thin volumes of a live pool');
  thin
    .command('create')
    .description('create thin ID in POOL and activate it')
    .argument('<pool>')
    .argument('<id>', 'thin id, 0..16777215', parseThinIdArg)
    .requiredOption('--size <size>', 'virtual size, e.g. 1G', parseSectorsArg)
    .option('--name <dmname>', 'device-mapper name (default POOL-thinID)')
    .option('--json', 'print the result as one JSON object')
    .action((poolName: string, id: number, o: { size: number; name?: string; json?: boolean }) =>
      run(async () => {
        const p = await Pool.open(poolName);
        const dev = await p.createAndActivateThin(id, o.size, o.name ?? `${poolName}-thin${id}`);
        announce(o.json, `created thin ${id} in ${poolName}, active as ${dev}`, { pool: poolName, id, device: dev });
        return 0;
      }),
    );
  thin
    .command('activate')
    .description('activate an existing thin ID of POOL as /dev/mapper/DMNAME')
    .argument('<pool>')
    .argument('<id>', 'thin id', parseThinIdArg)
    .requiredOption('--size <size>', 'virtual size, e.g. 1G', parseSectorsArg)
    .requiredOption('--name <dmname>', 'device-mapper name')
    .option('--json', 'print the result as one JSON object')
    .action((poolName: string, id: number, o: { size: number; name: string; json?: boolean }) =>
      run(async () => {
        const p = await Pool.open(poolName);
        const dev = await p.activateThin(id, o.size, o.name);
        announce(o.json, dev, { pool: poolName, id, device: dev });
        return 0;
      }),
    );
  thin
    .command('deactivate')
    .description('remove the dm device of a thin volume (its data stays in the pool)')
    .argument('<dmname>')
    .option('--json', 'print the result as one JSON object')
    .action((dmName: string, o: { json?: boolean }) =>
      run(async () => {
        await Pool.deactivateThin(dmName);
        announce(o.json, `removed ${dmName}`, { removed: dmName });
        return 0;
      }),
    );
  thin
    .command('delete')
    .description('delete thin ID from POOL (its data is freed); it must not be active')
    .argument('<pool>')
    .argument('<id>', 'thin id', parseThinIdArg)
    .option('--json', 'print the result as one JSON object')
    .action((poolName: string, id: number, o: { json?: boolean }) =>
      run(async () => {
        const p = await Pool.open(poolName);
        await p.deleteThin(id);
        announce(o.json, `deleted thin ${id} from ${poolName}`, { pool: poolName, deleted: id });
        return 0;
      }),
    );

  program
    .command('snap')
    .description('snapshots of thin volumes')
    .command('create')
    .description("snapshot ORIGIN_ID as NEW_ID (an active origin is suspended and resumed) and activate it with the origin's size")
    .argument('<pool>')
    .argument('<new-id>', 'id of the snapshot', parseThinIdArg)
    .argument('<origin-id>', 'id of the thin to snapshot', parseThinIdArg)
    .option('--name <dmname>', 'device-mapper name (default POOL-snapNEW_ID)')
    .option('--size <size>', "virtual size when the origin is not active (default: the active origin's)", parseSectorsArg)
    .option('--json', 'print the result as one JSON object')
    .action((poolName: string, id: number, origin: number, o: { name?: string; size?: number; json?: boolean }) =>
      run(async () => {
        const p = await Pool.open(poolName);
        let sectors = o.size;
        if (sectors === undefined) {
          const active = (await p.activeThins()).find((t) => t.id === origin);
          if (!active) throw new ArgumentError(`thin ${origin} is not active, so its size is unknown: give --size`);
          sectors = active.sectors;
        }
        const dev = await p.createAndActivateSnap(id, origin, sectors, o.name ?? `${poolName}-snap${id}`);
        announce(o.json, `created snapshot ${id} of thin ${origin} in ${poolName}, active as ${dev}`, { pool: poolName, id, origin, device: dev });
        return 0;
      }),
    );
}
