/**
 * What each step of the walkthrough hands the kernel, as the dmsetup
 * command an admin would type to do the same by hand: the thin-pool and
 * thin tables, and the pool's messages (create_thin, create_snap,
 * reserve_metadata_snap, ...). The walkthrough prints these beside the
 * dmthin command that sends them, so that it teaches dm-thin itself and
 * not only dmthin. They say what src/driver/pool.ts sends; the pool's
 * optional features (skip_block_zeroing, error_if_no_space) are left out
 * because the walkthrough asks for none.
 */

/** `dmsetup create` of a thin-pool: sizes in sectors, low water mark 0, no feature arguments. */
export function poolTable(pool: string, metadataDev: string, dataDev: string, dataSectors: number, blockSectors: number): string[] {
  return [`dmsetup create ${pool} --table "0 ${dataSectors} thin-pool ${metadataDev} ${dataDev} ${blockSectors} 0 0"`];
}

/** A new thin device: the pool allocates id `id`, then a thin table activates it. */
export function createThin(pool: string, id: number, name: string, sectors: number): string[] {
  return [`dmsetup message ${pool} 0 "create_thin ${id}"`, thinTable(pool, id, name, sectors)];
}

/** A snapshot of an active origin: the kernel wants the origin suspended while create_snap runs. */
export function createSnap(pool: string, id: number, originId: number, originName: string, name: string, sectors: number): string[] {
  return [
    `dmsetup suspend ${originName}`,
    `dmsetup message ${pool} 0 "create_snap ${id} ${originId}"`,
    `dmsetup resume ${originName}`,
    thinTable(pool, id, name, sectors),
  ];
}

/** The pool's status line (a question, nothing changes). */
export function poolStatus(pool: string): string[] {
  return [`dmsetup status ${pool}`];
}

/** A live read of the metadata: a snapshot held while the metadata device is read at its root, then released. */
export function liveDump(pool: string, metadataDev: string): string[] {
  return [
    `dmsetup message ${pool} 0 reserve_metadata_snap`,
    `dmsetup status ${pool}   (its held metadata root: the block the dump reads ${metadataDev} from)`,
    `dmsetup message ${pool} 0 release_metadata_snap`,
  ];
}

/** Tear-down: the thins' tables, then the pool's, then the loop devices. The thin ids stay in the metadata. */
export function destroy(pool: string, thins: readonly string[], loops: readonly string[]): string[] {
  return [...thins.map((t) => `dmsetup remove ${t}`), `dmsetup remove ${pool}`, ...loops.map((l) => `losetup -d ${l}`)];
}

function thinTable(pool: string, id: number, name: string, sectors: number): string {
  return `dmsetup create ${name} --table "0 ${sectors} thin /dev/mapper/${pool} ${id}"`;
}
