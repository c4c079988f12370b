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

export function parsePoolStatus(line: string): PoolStatus {
  const f = line.trim().split(/\s+/);
  if (f[2] !== 'thin-pool') throw new Error(`not a thin-pool status line: '${line}'`);
  const length = Number(f[1]);
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
  const [um, tm] = f[4].split('/').map(Number);
  const [ud, td] = f[5].split('/').map(Number);
  const mode = f[7] as PoolMode;
  if (!['rw', 'ro', 'out_of_data_space'].includes(mode)) throw new Error(`unknown pool mode '${f[7]}' in '${line}'`);
  return {
    length,
    mode,
    transactionId: Number(f[3]),
    usedMetadataBlocks: um!,
    totalMetadataBlocks: tm!,
    usedDataBlocks: ud!,
    totalDataBlocks: td!,
    heldMetadataRoot: f[6] === '-' ? undefined : Number(f[6]),
    discardPassdown: f[8] === 'discard_passdown',
    errorIfNoSpace: f[9] === 'error_if_no_space',
    needsCheck: f[10] === 'needs_check',
    metadataLowWatermark: f[11] !== undefined ? Number(f[11]) : undefined,
    raw: line.trim(),
  };
}

export function parseThinStatus(line: string): ThinStatus {
  const f = line.trim().split(/\s+/);
  if (f[2] !== 'thin') throw new Error(`not a thin status line: '${line}'`);
  if (f[3] === 'Fail') return { length: Number(f[1]), failed: true, mappedSectors: NaN, highestMappedSector: undefined, raw: line.trim() };
  return {
    length: Number(f[1]),
    failed: false,
    mappedSectors: Number(f[3]),
    highestMappedSector: f[4] === '-' || f[4] === undefined ? undefined : Number(f[4]),
    raw: line.trim(),
  };
}
