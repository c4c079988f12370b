/**
 * Parses thin-pool and thin status lines (Documentation/admin-guide/
 * device-mapper/thin-provisioning.rst):
 *
 *     <start> <length> thin-pool <transaction id> <used meta>/<total meta>
 *       <used data>/<total data> <held metadata root|-> ro|rw|out_of_data_space
 *       [no_]discard_passdown [error|queue]_if_no_space needs_check|-
 *       <metadata low watermark>
 *
 *     <start> <length> thin <nr mapped sectors> <highest mapped sector|->
 *
 * A pool or thin the kernel failed shows "Fail" instead.
 */
export type PoolMode = 'rw' | 'ro' | 'out_of_data_space' | 'fail';

export interface PoolStatus {
  /** Sectors of the pool device. */
  length: number;
  mode: PoolMode;
  transactionId: number;
  usedMetadataBlocks: number;
  totalMetadataBlocks: number;
  usedDataBlocks: number;
  totalDataBlocks: number;
  /** Block of the held metadata snapshot, or undefined. */
  heldMetadataRoot: number | undefined;
  discardPassdown: boolean;
  errorIfNoSpace: boolean;
  needsCheck: boolean;
  /** Newer kernels only. */
  metadataLowWatermark: number | undefined;
  raw: string;
}

export interface ThinStatus {
  length: number;
  failed: boolean;
  mappedSectors: number;
  /** Highest mapped sector, undefined when nothing is mapped. */
  highestMappedSector: number | undefined;
  raw: string;
}

/** A status line dmthin cannot read: the kernel's format changed, or it is not one. */
export class StatusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatusError';
  }
}

/** A whole number from a status field, or a StatusError naming the field. */
function count(field: string | undefined, what: string, line: string): number {
  if (field === undefined || !/^\d+$/.test(field)) throw new StatusError(`status line '${line.trim()}': ${what} '${field ?? ''}' is not a number`);
  return Number(field);
}

/** "used/total" from a status field. */
function ratio(field: string | undefined, what: string, line: string): [number, number] {
  const [used, total, extra] = (field ?? '').split('/');
  if (extra !== undefined) throw new StatusError(`status line '${line.trim()}': ${what} '${field}' is not used/total`);
  return [count(used, `used ${what}`, line), count(total, `total ${what}`, line)];
}

export function parsePoolStatus(line: string): PoolStatus {
  const f = line.trim().split(/\s+/);
  if (f[2] !== 'thin-pool') throw new StatusError(`not a thin-pool status line: '${line}'`);
  const length = count(f[1], 'length', line);
  if (f[3] === 'Fail') {
    return {
      length,
      mode: 'fail',
      transactionId: NaN,
      usedMetadataBlocks: NaN,
      totalMetadataBlocks: NaN,
      usedDataBlocks: NaN,
      totalDataBlocks: NaN,
      heldMetadataRoot: undefined,
      discardPassdown: false,
      errorIfNoSpace: false,
      needsCheck: true,
      metadataLowWatermark: undefined,
      raw: line.trim(),
    };
  }
  const transactionId = count(f[3], 'transaction id', line);
  const [um, tm] = ratio(f[4], 'metadata blocks', line);
  const [ud, td] = ratio(f[5], 'data blocks', line);
  const mode = f[7] as PoolMode;
  if (!['rw', 'ro', 'out_of_data_space'].includes(mode)) throw new StatusError(`unknown pool mode '${f[7] ?? ''}' in '${line.trim()}'`);
  return {
    length,
    mode,
    transactionId,
    usedMetadataBlocks: um,
    totalMetadataBlocks: tm,
    usedDataBlocks: ud,
    totalDataBlocks: td,
    heldMetadataRoot: f[6] === '-' ? undefined : count(f[6], 'held metadata root', line),
    discardPassdown: f[8] === 'discard_passdown',
    errorIfNoSpace: f[9] === 'error_if_no_space',
    needsCheck: f[10] === 'needs_check',
    metadataLowWatermark: f[11] !== undefined ? count(f[11], 'metadata low watermark', line) : undefined,
    raw: line.trim(),
  };
}

export function parseThinStatus(line: string): ThinStatus {
  const f = line.trim().split(/\s+/);
  if (f[2] !== 'thin') throw new StatusError(`not a thin status line: '${line}'`);
  const length = count(f[1], 'length', line);
  if (f[3] === 'Fail') return { length, failed: true, mappedSectors: NaN, highestMappedSector: undefined, raw: line.trim() };
  return {
    length,
    failed: false,
    mappedSectors: count(f[3], 'mapped sectors', line),
    highestMappedSector: f[4] === '-' || f[4] === undefined ? undefined : count(f[4], 'highest mapped sector', line),
    raw: line.trim(),
  };
}
