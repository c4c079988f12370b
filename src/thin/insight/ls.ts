/**
 * Per-device space use, as thin_ls reports it: mapped blocks, and how many
 * of them are exclusive (their data block is mapped exactly once in the
 * whole pool) or shared.
 */
import { humanSize } from '../../format/units.js';
import { UsageError } from '../../errors.js';
import type { Metadata, ThinDevice } from '../metadata.js';
import { forEachDataBlock } from '../mapping-scan.js';

export const LS_FIELDS = [
  'DEV',
  'MAPPED_BLOCKS',
  'EXCLUSIVE_BLOCKS',
  'SHARED_BLOCKS',
  'MAPPED_SECTORS',
  'EXCLUSIVE_SECTORS',
  'SHARED_SECTORS',
  'MAPPED_BYTES',
  'EXCLUSIVE_BYTES',
  'SHARED_BYTES',
  'MAPPED',
  'EXCLUSIVE',
  'SHARED',
  'TRANSACTION',
  'CREATE_TIME',
  'SNAP_TIME',
] as const;
export type LsField = (typeof LS_FIELDS)[number];
export const DEFAULT_LS_FIELDS: LsField[] = ['DEV', 'MAPPED', 'CREATE_TIME', 'SNAP_TIME'];

export interface LsRow {
  devId: number;
  mappedBlocks: number;
  exclusiveBlocks: number;
  sharedBlocks: number;
  transactionId: bigint;
  creationTime: number;
  snapshottedTime: number;
}

const NEEDS_SHARING: ReadonlySet<LsField> = new Set([
  'EXCLUSIVE_BLOCKS',
  'SHARED_BLOCKS',
  'EXCLUSIVE_SECTORS',
  'SHARED_SECTORS',
  'EXCLUSIVE_BYTES',
  'SHARED_BYTES',
  'EXCLUSIVE',
  'SHARED',
]);

export function parseLsFields(text: string): LsField[] {
  const fields = text.split(',');
  for (const f of fields) {
    if (!(LS_FIELDS as readonly string[]).includes(f)) throw new UsageError(`unknown field '${f}': fields are ${LS_FIELDS.join(', ')}`);
  }
  return fields as LsField[];
}

/**
 * Rows for every device. Exclusive counts need two passes over every
 * mapping (count, then classify); they are skipped unless `sharing`.
 */
export function lsRows(md: Metadata, sharing = true): LsRow[] {
  const devices = md.devices();
  const exclusive = new Map<number, number>();
  if (sharing) {
    // 0 unmapped, 1 mapped once, 2 mapped more than once: a byte per data block.
    let state = new Uint8Array(Math.max(md.view.dataSpaceMapRoot.nrBlocks, md.superblock.dataSpaceMapRoot.nrBlocks, 1));
    const rootOf = (d: ThinDevice): number => {
      if (d.mappingRoot === undefined) throw new UsageError(`thin device ${d.devId} has details but no mapping tree`);
      return d.mappingRoot;
    };
    for (const d of devices) {
      forEachDataBlock(md.reader, rootOf(d), d.devId, (b) => {
        if (b >= state.length) {
          const bigger = new Uint8Array(Math.max(b + 1, state.length * 2));
          bigger.set(state);
          state = bigger;
        }
        const s = state[b];
        if (s < 2) state[b] = s + 1;
      });
    }
    for (const d of devices) {
      let n = 0;
      forEachDataBlock(md.reader, rootOf(d), d.devId, (b) => {
        if (state[b] === 1) n++;
      });
      exclusive.set(d.devId, n);
    }
  }
  return devices.map((d) => {
    const ex = exclusive.get(d.devId) ?? 0;
    return {
      devId: d.devId,
      mappedBlocks: d.mappedBlocks,
      exclusiveBlocks: ex,
      sharedBlocks: d.mappedBlocks - ex,
      transactionId: d.transactionId,
      creationTime: d.creationTime,
      snapshottedTime: d.snapshottedTime,
    };
  });
}

export function needsSharing(fields: readonly LsField[]): boolean {
  return fields.some((f) => NEEDS_SHARING.has(f));
}

export function lsValue(row: LsRow, field: LsField, dataBlockSize: number): string {
  const sec = (blocks: number): number => blocks * dataBlockSize;
  switch (field) {
    case 'DEV':
      return String(row.devId);
    case 'MAPPED_BLOCKS':
      return String(row.mappedBlocks);
    case 'EXCLUSIVE_BLOCKS':
      return String(row.exclusiveBlocks);
    case 'SHARED_BLOCKS':
      return String(row.sharedBlocks);
    case 'MAPPED_SECTORS':
      return String(sec(row.mappedBlocks));
    case 'EXCLUSIVE_SECTORS':
      return String(sec(row.exclusiveBlocks));
    case 'SHARED_SECTORS':
      return String(sec(row.sharedBlocks));
    case 'MAPPED_BYTES':
      return String(sec(row.mappedBlocks) * 512);
    case 'EXCLUSIVE_BYTES':
      return String(sec(row.exclusiveBlocks) * 512);
    case 'SHARED_BYTES':
      return String(sec(row.sharedBlocks) * 512);
    case 'MAPPED':
      return humanSize(sec(row.mappedBlocks) * 512);
    case 'EXCLUSIVE':
      return humanSize(sec(row.exclusiveBlocks) * 512);
    case 'SHARED':
      return humanSize(sec(row.sharedBlocks) * 512);
    case 'TRANSACTION':
      return String(row.transactionId);
    case 'CREATE_TIME':
      return String(row.creationTime);
    case 'SNAP_TIME':
      return String(row.snapshottedTime);
  }
}

/** thin_ls's grid: each column right-justified to its widest cell, each cell followed by a space. */
export function formatLsTable(rows: LsRow[], fields: readonly LsField[], dataBlockSize: number, headers: boolean): string {
  const grid: string[][] = [];
  if (headers) grid.push([...fields]);
  for (const r of rows) grid.push(fields.map((f) => lsValue(r, f, dataBlockSize)));
  const widths = fields.map((_f, i) => Math.max(...grid.map((row) => row[i].length)));
  return grid.map((row) => `${row.map((c, i) => `${c.padStart(widths[i])} `).join('')}\n`).join('');
}
