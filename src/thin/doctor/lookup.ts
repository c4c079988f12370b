/**
 * One virtual block's mapping, read down one path of a device's tree (the
 * kernel's lookup, not a walk): what candidate matching needs to read a
 * device's surviving data at a few offsets. A node that cannot be read on
 * the way answers "not known", never a guess.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { MetadataError } from '../../format/errors.js';
import { inLeaf, leafHolding } from '../device-source.js';

export function lookupMapping(reader: BlockReader, root: number | undefined, v: number): number | undefined {
  return lookupMappingKnown(reader, root, v) ?? undefined;
}

/** The same, telling "not mapped" (null) from "not known" (undefined: a node on the way cannot be read). */
export function lookupMappingKnown(reader: BlockReader, root: number | undefined, v: number): number | null | undefined {
  if (root === undefined) return undefined;
  try {
    const leaf = leafHolding(reader, root, v, 'mapping tree');
    return leaf ? (inLeaf(leaf, v) ?? null) : null;
  } catch (e) {
    if (e instanceof MetadataError) return undefined;
    throw e;
  }
}
