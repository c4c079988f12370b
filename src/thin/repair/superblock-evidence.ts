/**
 * What block 0 still tells after damage. A valid superblock is used as is;
 * one whose checksum fails but whose magic and location hold (a torn
 * write, a flipped bit) still gives each field that is sane; anything else
 * is lost and the rest of the metadata must make up for it, unless the
 * superblock itself turns up at another block (a misdirected write, a swap
 * of two blocks): the kernel writes blocknr 0 only into the superblock at
 * block 0 (a metadata snapshot's copy records its own location).
 */
import type { BlockReader } from '../../io/block-reader.js';
import { TIME_MASK } from '../../format/block-time.js';
import { MetadataError } from '../../format/errors.js';
import { SUPERBLOCK_MAGIC, hasSuperblockMagic, validDataBlockSize, type Superblock, parseSuperblock, validateSuperblock } from '../../format/superblock.js';

/** What block 0 still tells, field by field. */
export interface SuperblockEvidence {
  state: 'valid' | 'damaged' | 'lost';
  sb?: Superblock;
  why?: string;
  dataBlockSize?: number;
  nrDataBlocks?: number;
  transactionId?: bigint;
  time?: number;
}

export function readSuperblockEvidence(reader: BlockReader): SuperblockEvidence {
  const b = reader.read(0);
  try {
    const sb = validateSuperblock(b, 0);
    return {
      state: 'valid',
      sb,
      // A checksum that holds does not make the field possible (a tool wrote it so): an impossible size counts as lost.
      dataBlockSize: validDataBlockSize(sb.dataBlockSize) ? sb.dataBlockSize : undefined,
      nrDataBlocks: sb.dataSpaceMapRoot.nrBlocks,
      transactionId: sb.transactionId,
      time: sb.time,
    };
  } catch (e) {
    if (!(e instanceof MetadataError)) throw e;
    const sb = parseSuperblock(b);
    if (sb.magic !== SUPERBLOCK_MAGIC || sb.blocknr !== 0) return misplacedSuperblock(reader) ?? { state: 'lost', why: e.message };
    // Magic and location hold: the fields are likely intact (a torn write or
    // a flipped bit); take each one that is sane.
    const ev: SuperblockEvidence = { state: 'damaged', sb, why: e.message };
    if (validDataBlockSize(sb.dataBlockSize)) ev.dataBlockSize = sb.dataBlockSize;
    if (sb.dataSpaceMapRoot.nrBlocks > 0 && sb.dataSpaceMapRoot.nrBlocks <= 2 ** 40) ev.nrDataBlocks = sb.dataSpaceMapRoot.nrBlocks;
    ev.transactionId = sb.transactionId;
    if (sb.time <= TIME_MASK) ev.time = sb.time;
    return ev;
  }
}

/**
 * A superblock whose checksum holds and that says it is block 0, found at
 * another block. Used only when there is exactly one: two would be a
 * choice between them, and repair does not guess.
 */
function misplacedSuperblock(reader: BlockReader): SuperblockEvidence | undefined {
  let found: { at: number; sb: Superblock } | undefined;
  for (let b = 1; b < reader.nrBlocks; b++) {
    const blk = reader.read(b);
    if (!hasSuperblockMagic(blk)) continue;
    let sb: Superblock;
    try {
      sb = validateSuperblock(blk, 0);
    } catch {
      continue;
    }
    if (found) return undefined;
    found = { at: b, sb };
  }
  if (!found) return undefined;
  const sb = found.sb;
  return {
    state: 'damaged',
    sb,
    why: `block 0 holds no superblock, but the superblock (blocknr 0, valid checksum) was found at block ${found.at}: a misdirected or swapped write`,
    dataBlockSize: sb.dataBlockSize,
    nrDataBlocks: sb.dataSpaceMapRoot.nrBlocks,
    transactionId: sb.transactionId,
    time: sb.time,
  };
}
