/**
 * A thin pool on a live kernel, driven through dmsetup and losetup.
 *
 * Every operation validates its input before touching the kernel, and
 * every multi-step one rolls back what it created when a later step fails.
 */
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync, ftruncateSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { MAX_THIN_ID } from '../format/device-details.js';
import { MAX_DATA_BLOCK_SIZE, MIN_DATA_BLOCK_SIZE, validDataBlockSize } from '../format/superblock.js';
import * as dm from './dmsetup.js';
import { explain } from './errors.js';
import { run } from './exec.js';
import * as loop from './losetup.js';
import { Rollback } from './rollback.js';
import { faultPoint } from './fault.js';
import { type PoolStatus, parsePoolStatus, parseThinStatus, type ThinStatus } from './status.js';

export const MIN_BLOCK_SIZE = MIN_DATA_BLOCK_SIZE * 512;
export const MAX_BLOCK_SIZE = MAX_DATA_BLOCK_SIZE * 512;
export const MIN_METADATA_SIZE = 2 * 1024 * 1024;
/** The kernel uses at most this much metadata (255 bitmaps of 16320 4 KiB blocks, ~15.9 GiB). */
export const MAX_METADATA_SIZE = 255 * 16320 * 4096;

export interface PoolCreateOptions {
  name: string;
  dataFile: string;
  metadataFile: string;
  /** Bytes. */
  dataSize: number;
  metadataSize: number;
  blockSize: number;
  /** Data blocks; an event is raised when free blocks drop below. */
  lowWaterMark?: number;
  skipZeroing?: boolean;
  errorIfNoSpace?: boolean;
}

export interface ActiveThin {
  /** dm name. */
  name: string;
  id: number;
  sectors: number;
}

const NAME_RE = /^[A-Za-z0-9._+:@-]{1,127}$/;

export function validateName(name: string, what = 'device name'): void {
  if (!NAME_RE.test(name) || name === '.' || name === '..') {
    throw new UsageError(`${what} '${name}' is not valid: use 1-127 letters, digits and . _ + : @ -`);
  }
}

export function validateThinId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_THIN_ID) {
    throw new UsageError(`thin id ${id} is out of range: ids are 0..${MAX_THIN_ID} (24 bits)`);
  }
}

export function validateBlockSize(bytes: number): void {
  // The kernel's rule, in sectors (format/superblock.ts), for a size given in bytes.
  if (bytes % 512 !== 0 || !validDataBlockSize(bytes / 512)) {
    throw new UsageError(`data block size ${bytes} bytes is not a multiple of 64 KiB between 64 KiB and 1 GiB`);
  }
}

/** /dev/NAME for a "major:minor" the kernel prints in tables. */
function deviceForNumber(majMin: string): string {
  try {
    const uevent = readFileSync(`/sys/dev/block/${majMin}/uevent`, 'utf8');
    const m = /^DEVNAME=(.+)$/m.exec(uevent);
    if (m) return `/dev/${m[1]}`;
  } catch {
    // fall through
  }
  return majMin;
}

/** Loads a thin-pool table (`head` up to the block size); the rollback removes it again. */
async function loadPoolTable(rb: Rollback, name: string, head: string, lowWaterMark: number, features: readonly string[], what: string): Promise<void> {
  const tbl = `${head} ${lowWaterMark} ${features.length}${features.length ? ` ${features.join(' ')}` : ''}`;
  try {
    await dm.create(name, tbl);
  } catch (e) {
    throw explain(e, `${what} pool ${name}`);
  }
  rb.push(`remove ${name}`, () => dm.remove(name));
}

export class Pool {
  private constructor(
    readonly name: string,
    readonly metadataDevice: string,
    readonly dataDevice: string,
    /** Sectors. */
    readonly dataBlockSize: number,
    readonly sectors: number,
  ) {}

  get device(): string {
    return `/dev/mapper/${this.name}`;
  }

  /** Creates sparse files, attaches them and creates the pool. */
  static async create(o: PoolCreateOptions): Promise<Pool> {
    validateName(o.name, 'pool name');
    validateBlockSize(o.blockSize);
    if (!(o.dataSize > 0) || o.dataSize % o.blockSize !== 0) {
      throw new UsageError(`data size ${o.dataSize} bytes is not a positive multiple of the block size (${o.blockSize} bytes)`);
    }
    if (o.metadataSize < MIN_METADATA_SIZE || o.metadataSize % 4096 !== 0) {
      throw new UsageError(`metadata size ${o.metadataSize} bytes must be a multiple of 4 KiB and at least 2 MiB`);
    }
    if (o.metadataSize > MAX_METADATA_SIZE) {
      throw new UsageError(`metadata size ${o.metadataSize} bytes is more than the kernel can use (${MAX_METADATA_SIZE} bytes)`);
    }
    if (o.lowWaterMark !== undefined && (!Number.isInteger(o.lowWaterMark) || o.lowWaterMark < 0)) {
      throw new UsageError(`low water mark ${o.lowWaterMark} is not a block count`);
    }
    const dataFile = resolve(o.dataFile);
    const metadataFile = resolve(o.metadataFile);
    if (dataFile === metadataFile) throw new UsageError('the data and metadata files must differ');
    for (const f of [dataFile, metadataFile]) {
      if (existsSync(f) && statSync(f).size > 0) {
        throw new UsageError(`${f} exists and is not empty: refusing to overwrite it (remove it, or pick another file)`);
      }
    }
    if (await dm.exists(o.name)) throw new UsageError(`a device-mapper device named ${o.name} already exists`);

    return Rollback.guard(async (rb) => {
      for (const [f, size] of [
        [metadataFile, o.metadataSize],
        [dataFile, o.dataSize],
      ] as const) {
        const existed = existsSync(f);
        const fd = openSync(f, 'w', 0o600);
        try {
          ftruncateSync(fd, size);
        } finally {
          closeSync(fd);
        }
        if (!existed) rb.push(`remove ${f}`, () => unlinkSync(f));
      }
      const metaDev = await loop.attach(metadataFile);
      rb.push(`detach ${metaDev}`, () => loop.detach(metaDev));
      const dataDev = await loop.attach(dataFile);
      rb.push(`detach ${dataDev}`, () => loop.detach(dataDev));
      faultPoint('pool-create:after-loops');
      const features: string[] = [];
      if (o.skipZeroing) features.push('skip_block_zeroing');
      if (o.errorIfNoSpace) features.push('error_if_no_space');
      const sectors = o.dataSize / 512;
      const bs = o.blockSize / 512;
      await loadPoolTable(rb, o.name, `0 ${sectors} thin-pool ${metaDev} ${dataDev} ${bs}`, o.lowWaterMark ?? 0, features, 'creating');
      faultPoint('pool-create:after-pool');
      return new Pool(o.name, metaDev, dataDev, bs, sectors);
    });
  }

  /**
   * Activates a pool on existing metadata and data files (or devices):
   * attaches files to loop devices and loads the thin-pool table. Rolled
   * back on failure.
   */
  static async activate(o: {
    name: string;
    metadataFile: string;
    dataFile: string;
    /** Sectors. */
    dataBlockSize: number;
    lowWaterMark?: number;
    features?: string[];
  }): Promise<{ pool: Pool; loops: string[] }> {
    validateName(o.name, 'pool name');
    if (await dm.exists(o.name)) throw new UsageError(`a device-mapper device named ${o.name} already exists`);
    return Rollback.guard(async (rb) => {
      const loops: string[] = [];
      const attachOrUse = async (file: string): Promise<string> => {
        const st = statSync(file);
        if (st.isBlockDevice()) return resolve(file);
        const dev = await loop.attach(file);
        rb.push(`detach ${dev}`, () => loop.detach(dev));
        loops.push(dev);
        return dev;
      };
      const metaDev = await attachOrUse(o.metadataFile);
      const dataDev = await attachOrUse(o.dataFile);
      const bytes = statSync(o.dataFile).isBlockDevice() ? (await run('blockdev', ['--getsize64', dataDev])).stdout.trim() : String(statSync(o.dataFile).size);
      const sectors = Math.floor(Number(bytes) / 512 / o.dataBlockSize) * o.dataBlockSize;
      const features = o.features ?? [];
      await loadPoolTable(rb, o.name, `0 ${sectors} thin-pool ${metaDev} ${dataDev} ${o.dataBlockSize}`, o.lowWaterMark ?? 0, features, 'activating');
      faultPoint('pool-activate:after-pool');
      return { pool: new Pool(o.name, metaDev, dataDev, o.dataBlockSize, sectors), loops };
    });
  }

  /** An existing pool, by its dm name. */
  static async open(name: string): Promise<Pool> {
    validateName(name, 'pool name');
    let tbl: string;
    try {
      tbl = await dm.table(name);
    } catch (e) {
      throw new UsageError(`no pool named ${name}: ${(e as Error).message}`);
    }
    const f = tbl.split(/\s+/);
    if (f[2] !== 'thin-pool') throw new UsageError(`${name} is not a thin-pool (its table: ${tbl})`);
    return new Pool(name, deviceForNumber(f[3]), deviceForNumber(f[4]), Number(f[5]), Number(f[1]));
  }

  async status(): Promise<PoolStatus> {
    return parsePoolStatus(await dm.status(this.name));
  }

  /** Active thin devices whose table names this pool. */
  async activeThins(): Promise<ActiveThin[]> {
    const me = await dm.info(this.name);
    if (!me) throw new UsageError(`pool ${this.name} is not active`);
    const majMin = `${me.major}:${me.minor}`;
    const out: ActiveThin[] = [];
    for (const [name, tbl] of await dm.tables('thin')) {
      const f = tbl.split(/\s+/);
      if (f[2] === 'thin' && (f[3] === majMin || f[3] === this.device)) out.push({ name, id: Number(f[4]), sectors: Number(f[1]) });
    }
    return out;
  }

  async thinStatus(dmName: string): Promise<ThinStatus> {
    return parseThinStatus(await dm.status(dmName));
  }

  private async send(msg: string, what: string): Promise<void> {
    try {
      await dm.message(this.name, msg);
    } catch (e) {
      throw explain(e, what);
    }
  }

  async createThin(id: number): Promise<void> {
    validateThinId(id);
    await this.send(`create_thin ${id}`, `creating thin ${id} in ${this.name}`);
  }

  /**
   * Snapshots thin `originId` as `id`. An active origin is suspended first
   * (its in-flight I/O must reach the pool before the snapshot is taken)
   * and always resumed, even when the snapshot fails.
   */
  async createSnap(id: number, originId: number): Promise<void> {
    validateThinId(id);
    validateThinId(originId);
    if (id === originId) throw new UsageError("a snapshot needs a new id, not its origin's");
    const active = (await this.activeThins()).filter((t) => t.id === originId);
    const suspended: string[] = [];
    let failure: unknown;
    try {
      for (const t of active) {
        await dm.suspend(t.name);
        suspended.push(t.name);
      }
      await this.send(`create_snap ${id} ${originId}`, `snapshotting thin ${originId} as ${id} in ${this.name}`);
    } catch (e) {
      failure = e;
    }
    // Whatever happened, the origin's devices are resumed; a failure to do so
    // is added to the snapshot's own failure rather than hiding it.
    const errors: string[] = [];
    for (const n of suspended.reverse()) {
      try {
        await dm.resume(n);
      } catch (e) {
        errors.push(`${n}: ${(e as Error).message}`);
      }
    }
    if (errors.length) {
      const stuck = `could not resume ${errors.join('; ')}: resume them with dmsetup resume`;
      if (failure instanceof Error) failure.message += `; and ${stuck}`;
      else failure = new Error(stuck);
    }
    if (failure) throw failure;
  }

  async deleteThin(id: number): Promise<void> {
    validateThinId(id);
    const active = (await this.activeThins()).filter((t) => t.id === id);
    if (active.length > 0) {
      throw new UsageError(`thin ${id} is active as ${active.map((t) => t.name).join(', ')}: deactivate it first`);
    }
    await this.send(`delete ${id}`, `deleting thin ${id} from ${this.name}`);
  }

  /** Creates dm device `dmName` for thin `id`, `sectors` long; returns its path. */
  async activateThin(id: number, sectors: number, dmName: string): Promise<string> {
    validateThinId(id);
    validateName(dmName);
    if (!Number.isInteger(sectors) || sectors <= 0) throw new UsageError(`thin size ${sectors} sectors is not positive`);
    if (await dm.exists(dmName)) throw new UsageError(`a device-mapper device named ${dmName} already exists`);
    try {
      await dm.create(dmName, `0 ${sectors} thin ${this.device} ${id}`);
    } catch (e) {
      throw explain(e, `activating thin ${id} of ${this.name} as ${dmName}`);
    }
    return `/dev/mapper/${dmName}`;
  }

  /** Removes a thin volume's dm device (its data stays in its pool, whichever that is). */
  static async deactivateThin(dmName: string): Promise<void> {
    validateName(dmName);
    try {
      await dm.remove(dmName);
    } catch (e) {
      throw explain(e, `removing ${dmName}`);
    }
  }

  /** create_thin + activate, rolled back together. */
  async createAndActivateThin(id: number, sectors: number, dmName: string): Promise<string> {
    validateName(dmName);
    if (await dm.exists(dmName)) throw new UsageError(`a device-mapper device named ${dmName} already exists`);
    return Rollback.guard(async (rb) => {
      await this.createThin(id);
      rb.push(`delete thin ${id}`, () => this.send(`delete ${id}`, `deleting thin ${id}`));
      faultPoint('thin-create:before-activate');
      return this.activateThin(id, sectors, dmName);
    });
  }

  /** create_snap + activate, rolled back together. */
  async createAndActivateSnap(id: number, originId: number, sectors: number, dmName: string): Promise<string> {
    validateName(dmName);
    if (await dm.exists(dmName)) throw new UsageError(`a device-mapper device named ${dmName} already exists`);
    return Rollback.guard(async (rb) => {
      await this.createSnap(id, originId);
      rb.push(`delete thin ${id}`, () => this.send(`delete ${id}`, `deleting thin ${id}`));
      faultPoint('snap-create:before-activate');
      return this.activateThin(id, sectors, dmName);
    });
  }

  async setTransactionId(oldId: number, newId: number): Promise<void> {
    await this.send(`set_transaction_id ${oldId} ${newId}`, `setting the transaction id of ${this.name} from ${oldId} to ${newId}`);
  }

  async reserveMetadataSnap(): Promise<number> {
    await this.send('reserve_metadata_snap', `reserving a metadata snapshot of ${this.name}`);
    const s = await this.status();
    if (s.heldMetadataRoot === undefined) throw new Error(`pool ${this.name} reports no held metadata root after reserve_metadata_snap`);
    return s.heldMetadataRoot;
  }

  async releaseMetadataSnap(): Promise<void> {
    await this.send('release_metadata_snap', `releasing the metadata snapshot of ${this.name}`);
  }

  /**
   * Reserves a metadata snapshot, runs `fn` with the metadata device and
   * the snapshot's block, and always releases it. A snapshot already held
   * (by someone else) is used as is and left held.
   */
  async withMetadataSnap<T>(fn: (metadataDevice: string, heldRoot: number) => Promise<T> | T): Promise<T> {
    const before = await this.status();
    const ours = before.heldMetadataRoot === undefined;
    const root = before.heldMetadataRoot ?? (await this.reserveMetadataSnap());
    try {
      // The kernel writes metadata below the page cache: drop what we may have cached.
      await run('blockdev', ['--flushbufs', this.metadataDevice]).catch(() => undefined);
      return await fn(this.metadataDevice, root);
    } finally {
      if (ours) await this.releaseMetadataSnap();
    }
  }

  /**
   * For a read of the pool as it is now (send): reserves a metadata
   * snapshot, refusing one already held (it shows an older state, and is
   * someone else's to release), drops the cached pages of both devices (the
   * kernel writes below the page cache), runs `fn`, and releases the
   * snapshot whatever happens. SIGINT, SIGTERM and SIGHUP are held back
   * while it is held and honoured once it is released.
   */
  async withOwnMetadataSnap<T>(fn: (metadataDevice: string, heldRoot: number) => Promise<T>): Promise<T> {
    const before = await this.status();
    if (before.heldMetadataRoot !== undefined) {
      throw new UsageError(
        `pool ${this.name} already holds a metadata snapshot (block ${before.heldMetadataRoot}), reserved by another tool or left by a killed one: it shows an older state of the pool. If nothing uses it: dmsetup message ${this.name} 0 release_metadata_snap`,
      );
    }
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    let caught: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals): void => {
      caught ??= sig;
    };
    for (const sig of signals) process.on(sig, onSignal);
    try {
      const root = await this.reserveMetadataSnap();
      try {
        for (const d of [this.metadataDevice, this.dataDevice]) await run('blockdev', ['--flushbufs', d]).catch(() => undefined);
        return await fn(this.metadataDevice, root);
      } finally {
        await this.releaseMetadataSnap();
      }
    } finally {
      for (const sig of signals) process.off(sig, onSignal);
      if (caught) process.kill(process.pid, caught);
    }
  }

  /** Refuses when thin `id` is active and writable: its blocks could change while they are read. */
  async refuseWritable(id: number, advice: string): Promise<ActiveThin | undefined> {
    const active = (await this.activeThins()).filter((t) => t.id === id);
    for (const t of active) {
      const i = await dm.info(t.name);
      if (i && !i.readOnly) {
        throw new UsageError(
          `thin ${id} of ${this.name} is active as /dev/mapper/${t.name} and writable: its blocks can change while they are read; ${advice}`,
        );
      }
    }
    return active[0];
  }

  /** Removes every active thin of the pool, the pool, and the loop devices under it. */
  async destroy(): Promise<void> {
    const thins = await this.activeThins();
    // Refuse before removing anything: a half-destroyed pool helps no one.
    for (const t of thins) {
      const i = await dm.info(t.name);
      if (i && i.openCount > 0) {
        throw new UsageError(`thin ${t.id} (/dev/mapper/${t.name}) is open (mounted?): unmount it before destroying pool ${this.name}`);
      }
    }
    for (const t of thins) await Pool.deactivateThin(t.name);
    try {
      await dm.remove(this.name);
    } catch (e) {
      throw explain(e, `removing pool ${this.name}`);
    }
    for (const d of [this.metadataDevice, this.dataDevice]) {
      if (/^\/dev\/loop\d+$/.test(d)) await loop.detach(d);
    }
  }
}
