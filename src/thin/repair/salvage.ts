/**
 * Works out what a repair can rebuild from damaged metadata, without
 * writing anything: the superblock fields, the device list and, per
 * device, the newest mapping tree with its lost key ranges ("holes") and
 * the mappings that older copies of lost nodes can give back.
 *
 * Principles (a wrong mapping silently hands a user stale or foreign data;
 * a missing one reads as zeros and is reported):
 * - The newest generation wins. A superblock with a valid checksum names
 *   it. A superblock whose checksum is bad but whose magic and fields are
 *   sane still names it once its roots prove consistent (a torn or
 *   bit-flipped superblock costs nothing). Only when neither works are
 *   roots chosen among all unreferenced nodes the scan finds.
 * - Older copies fill holes only where the newest generation vouches for
 *   them: an older mapping (v -> d) is taken only if v is inside a lost
 *   range of that device; the older leaf was this device's, or a device's
 *   that shared the lost node itself (any other device's leaf, a snapshot
 *   relative's too, only gives mappings older than this device's
 *   creation: what a snapshot inherits); a leaf no older top level names
 *   fills only a bounded lost range, and only when no other damaged device
 *   lost that key range too; every older copy of v agrees on
 *   d; the newest data space map counts d more often than the surviving
 *   trees use it (so some lost leaf held it), and no more often than the
 *   surviving mappings plus every device's claims on d add up to; no
 *   mapping, surviving or claimed, puts d at another virtual block or with
 *   another time (a data block's mappings share one entry); and the device
 *   does not end up with more mappings than its newest details say it has.
 *   Claims that do not fit together are all refused: a lost mapping reads
 *   as zeros, a wrong one hands out someone else's data.
 * - Device details that are lost are rebuilt so that the kernel treats
 *   every existing block as shared (snapshotted_time after every mapping's
 *   time): a write then copies instead of overwriting a block a snapshot
 *   might still use.
 *
 * Stages: superblock-evidence.ts (what block 0 still tells),
 * roots.ts (the newest trees), this file (devices, lost ranges,
 * the superblock to write), older-copies.ts (filling lost ranges).
 */
import type { BlockReader } from '../../io/block-reader.js';
import { UsageError, must } from '../../errors.js';
import { type Superblock, checkedDataBlockSize, parseSuperblock, validDataBlockSize } from '../../format/superblock.js';
import { RefCounts } from '../../pdata/ref-counts.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { rangeText } from '../../pdata/btree/problem.js';
import { type DumpHeader, applyOverrides, uuidText } from '../dump/dump.js';
import { MappingList } from '../mapping-list.js';
import { type DetailsTree, SalvageContext, type SalvageOptions, type Salvage, type SalvagedDevice, mappingLeafCheck } from './context.js';
import { OlderCopies } from './older-copies.js';
import { RootFinder } from './roots.js';
import { type SuperblockEvidence, readSuperblockEvidence } from './superblock-evidence.js';

export type { Hole, Salvage, SalvagedDevice, SalvageOptions, SalvageStats } from './context.js';

export function salvage(reader: BlockReader, options: SalvageOptions = {}): Salvage {
  return new Salvager(new SalvageContext(reader, options)).run();
}

class Salvager {
  constructor(private readonly ctx: SalvageContext) {}

  run(): Salvage {
    const ev = readSuperblockEvidence(this.ctx.reader);
    this.ctx.truncated = ev.sb !== undefined && ev.sb.metadataNrBlocks > this.ctx.n ? ev.sb.metadataNrBlocks : 0;
    if (this.ctx.truncated) this.ctx.note(`the metadata is truncated: the superblock says ${this.ctx.truncated} blocks, the file holds ${this.ctx.n}`);
    if (ev.state === 'valid') this.ctx.info('superblock: valid');
    else if (ev.state === 'damaged') this.ctx.note(`superblock: ${ev.why}; its magic and location hold, so its fields are used where they are sane`);
    else this.ctx.note(`superblock: lost (${ev.why}); everything is rebuilt from the rest of the metadata`);
    const leafCheck = mappingLeafCheck(ev.nrDataBlocks ?? Infinity);
    const live = new Uint8Array(this.ctx.n);
    const mappingWalker = new BTreeTraversal(this.ctx.reader, { leafCheck, mark: live, remember: true });

    // 1. The newest generation's roots.
    const { top, det } = new RootFinder(this.ctx).chooseRoots(ev);

    // 2. Devices, and a first pass over every mapping tree: what survives,
    // what is lost, how often surviving leaves use each data block.
    const ids = new Set<number>([...(top?.ids.keys() ?? []), ...(det?.details.keys() ?? [])]);
    const devices: SalvagedDevice[] = [];
    const seenLeaf = new Uint8Array(this.ctx.n);
    const dataSmAvailable = ev.sb !== undefined && ev.nrDataBlocks !== undefined;
    const implied = dataSmAvailable && ev.nrDataBlocks !== undefined ? new RefCounts(ev.nrDataBlocks) : undefined;
    let maxData = -1;
    let maxTime = 0;
    // Devices whose newest trees lost the same node: they shared it, so an older copy of it is each one's.
    const sharers = new Map<number, Set<number>>();
    for (const id of [...ids].sort((a, b) => a - b)) {
      const root = top?.ids.get(id);
      const d = det?.details.get(id);
      const dev: SalvagedDevice = {
        devId: id,
        details: d ? { ...d } : { mappedBlocks: 0, transactionId: 0n, creationTime: 0, snapshottedTime: 0 },
        detailsSource: d ? 'newest' : 'rebuilt',
        root,
        intact: 0,
        holes: [],
        recovered: new MappingList(0),
      };
      if (root === undefined) {
        dev.holes.push({ lo: 0, hi: Infinity, block: top?.root ?? 0, why: 'its entry in the top level of the mapping tree is lost' });
      } else {
        mappingWalker.walk(root, {
          valueSize: 8,
          tree: { kind: 'mappings', devId: id },
          onLeaf: (node) => {
            const nr = node.nrEntries;
            dev.intact += nr;
            const firstUse = !seenLeaf[node.location];
            seenLeaf[node.location] = 1;
            for (let i = 0; i < nr; i++) {
              const db = node.dataBlock(i);
              const t = node.time(i);
              if (db > maxData) maxData = db;
              if (t > maxTime) maxTime = t;
              // The kernel counts a data block once per leaf holding it, not per device sharing the leaf.
              if (firstUse && implied) implied.inc(db);
            }
          },
          onProblem: (p) => dev.holes.push({ ...p.range, block: p.block, why: p.message }),
        });
      }
      // A device whose entry in the top level is lost shares that top-level node, not a mapping node.
      for (const h of root === undefined ? [] : dev.holes) {
        let s = sharers.get(h.block);
        if (!s) sharers.set(h.block, (s = new Set()));
        s.add(id);
      }
      for (const h of dev.holes) this.ctx.note(`thin device ${id}: virtual blocks ${rangeText(h)} lost from the newest tree: ${h.why}`);
      this.ctx.stats.holes += dev.holes.length;
      this.ctx.stats.intactMappings += dev.intact;
      devices.push(dev);
    }
    // Leaves only the held metadata snapshot still uses are counted by the
    // data space map too: without them a stale older mapping would look vouched for.
    let snapshotIntact = true;
    if (implied && ev.sb && ev.sb.heldRoot > 0) {
      const lostBlocks = new Set(devices.flatMap((d) => d.holes.map((h) => h.block)));
      snapshotIntact = this.ctx.countSnapshotLeaves(ev.sb.heldRoot, seenLeaf, implied, leafCheck, lostBlocks);
    }

    if (top && det) {
      for (const h of top.holes) this.ctx.note(`top level of the mapping tree: thin ids ${rangeText(h)} lost: ${h.why}`);
      for (const h of det.holes) this.ctx.note(`device details tree: thin ids ${rangeText(h)} lost: ${h.why}`);
      for (const h of top.holes) {
        for (const hd of det.holes) {
          const lo = Math.max(h.lo, hd.lo);
          const hi = Math.min(h.hi, hd.hi);
          if (lo < hi)
            this.ctx.note(
              `thin ids ${rangeText({ lo, hi })} are lost from both trees: any device there cannot be told from a deleted one and is not recovered`,
            );
        }
      }
    }

    // 3. Holes: older copies, where the newest generation vouches for them.
    if (devices.some((d) => d.holes.length > 0)) {
      if (implied && ev.sb && snapshotIntact) new OlderCopies(this.ctx).recover(devices, live, implied, ev.sb, leafCheck, sharers);
      else if (!snapshotIntact)
        this.ctx.note("older copies of lost nodes are not used: the metadata snapshot's trees are damaged too, so the space map cannot vouch for them");
      else this.ctx.note("older copies of lost nodes are not used: without the superblock's data space map nothing can vouch for them");
    }

    // 4. The superblock to write.
    const header = this.header(ev, det, maxData, maxTime, devices);
    for (const d of devices) {
      d.details.mappedBlocks = d.intact + d.recovered.length;
      const said = d.detailsSource === 'newest' && d.holes.length === 0 ? det?.details.get(d.devId) : undefined;
      if (said && said.mappedBlocks !== d.intact) {
        this.ctx.note(`thin device ${d.devId}: details said ${said.mappedBlocks} mapped blocks, its tree holds ${d.intact}; writing ${d.intact}`);
      }
    }
    this.ctx.stats.devices = devices.length;
    const damaged = this.ctx.damaged || this.ctx.stats.holes > 0;
    return { header, walker: mappingWalker, devices, notes: this.ctx.notes, damaged, stats: this.ctx.stats, live };
  }

  private header(ev: SuperblockEvidence, det: DetailsTree | undefined, maxData: number, maxTime: number, devices: SalvagedDevice[]): DumpHeader {
    const o = this.ctx.options;
    // A metadata snapshot's copy of the superblock (found by the scan) keeps the block size.
    let copy: Superblock | undefined;
    if (ev.state === 'lost' || ev.dataBlockSize === undefined) {
      for (const loc of this.ctx.nodeScan().superblockCopies) {
        const sb = parseSuperblock(this.ctx.reader.read(loc));
        if (validDataBlockSize(sb.dataBlockSize) && (!copy || sb.transactionId > copy.transactionId)) copy = sb;
      }
    }
    const dataBlockSize = o.dataBlockSize ?? ev.dataBlockSize ?? copy?.dataBlockSize;
    if (dataBlockSize === undefined) {
      throw new UsageError(
        `the data block size is ${ev.sb && ev.state !== 'lost' ? `impossible in the superblock (${ev.sb.dataBlockSize} sectors)` : 'lost with the superblock'} and no copy of it survives: give --data-block-size SECTORS ` +
          "(the pool's chunk size: `lvs -o+chunk_size VG/POOL`, or the 4th argument of its `dmsetup table` line)",
      );
    }
    if (o.dataBlockSize === undefined && ev.dataBlockSize === undefined)
      this.ctx.note(
        `data block size ${dataBlockSize} sectors, from the metadata snapshot's copy of the superblock at block ${must(copy, 'the copy the block size came from').blocknr}`,
      );
    checkedDataBlockSize(dataBlockSize);

    let detailsMaxTid = -1n;
    let detailsMaxTime = 0;
    for (const d of det?.details.values() ?? []) {
      if (d.transactionId > detailsMaxTid) detailsMaxTid = d.transactionId;
      detailsMaxTime = Math.max(detailsMaxTime, d.creationTime, d.snapshottedTime);
    }
    const snapTid = copy?.transactionId ?? 0n;
    const transaction = ev.transactionId ?? (detailsMaxTid + 1n > snapTid ? detailsMaxTid + 1n : snapTid);
    if (ev.transactionId === undefined)
      this.ctx.note(`transaction id ${transaction}: one past the highest a device records${copy ? " (or the metadata snapshot's)" : ''}`);
    const nrDataBlocks = ev.nrDataBlocks ?? maxData + 1;
    if (ev.nrDataBlocks === undefined) {
      this.ctx.note(
        `nr_data_blocks ${nrDataBlocks}: one past the highest data block mapped (the kernel grows it to the data device's size when the pool is loaded)`,
      );
    }
    const header = applyOverrides(
      {
        uuid: ev.sb ? uuidText(ev.sb.uuid) : '',
        time: 0,
        transaction,
        flags: 0,
        version: ev.sb && (ev.sb.version === 1 || ev.sb.version === 2) ? ev.sb.version : 2,
        dataBlockSize,
        nrDataBlocks,
      },
      o,
    );

    // Time must not be below any mapping's or device's: a later snapshot
    // would otherwise treat shared blocks as exclusive.
    let time = Math.max(ev.time ?? copy?.time ?? 0, maxTime, detailsMaxTime);
    const rebuilt = devices.filter((d) => d.detailsSource === 'rebuilt');
    if (rebuilt.length > 0) {
      time = Math.max(time, maxTime + 1);
      for (const d of rebuilt) {
        d.details = { mappedBlocks: 0, transactionId: header.transaction > 0n ? header.transaction - 1n : 0n, creationTime: time, snapshottedTime: time };
      }
      this.ctx.note(
        `rebuilt the details of thin device${rebuilt.length > 1 ? 's' : ''} ${rebuilt.map((d) => d.devId).join(', ')}: ` +
          `snapshotted at time ${time}, so that every existing block is treated as shared (copied on write, never overwritten)`,
      );
    }
    header.time = time;
    return header;
  }
}
