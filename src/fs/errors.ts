/**
 * Errors of a filesystem's bytes: one line naming the device, the byte
 * offset, the structure and what was expected. A reader throws these for
 * anything a hostile or damaged image can make it meet, never an engine
 * message.
 */
export class FsError extends Error {
  constructor(
    /** The device's name (a path, "IMAGE: VG/LV"). */
    readonly device: string,
    /** Byte offset of the structure on the device. */
    readonly offset: number,
    /** "ext4 superblock", "ext4 inode 12", ... */
    readonly structure: string,
    /** What is wrong and what was expected. */
    readonly detail: string,
  ) {
    super(`${device}: byte ${offset}: ${structure}: ${detail}`);
    this.name = new.target.name;
  }
}

/** A stored checksum of filesystem metadata does not match its bytes. */
export class FsChecksumError extends FsError {
  constructor(
    device: string,
    offset: number,
    structure: string,
    /** The filesystem block that holds the structure. */
    readonly block: number,
    readonly stored: number,
    readonly computed: number,
  ) {
    super(device, offset, structure, `bad checksum in block ${block}: stored 0x${hex(stored)}, computed 0x${hex(computed)}`);
  }
}

function hex(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
