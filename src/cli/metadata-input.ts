/**
 * What a thin command reads: a metadata file or device named on the command
 * line, or a pool's metadata LV inside disk images (`dmthin lvm VERB IMAGE...
 * VG/POOL`). Each command's action takes one of these, so that the same
 * code serves both spellings.
 */
import type { ByteSource } from '../io/byte-source.js';

export interface MetadataInput {
  /** What the library opens: a path, or the LV's bytes. */
  source: string | ByteSource;
  /** Every file read (no output may be one of them). */
  files: readonly string[];
  /** The command that would rebuild it into NEW, for advice in messages. */
  repairCommand: string;
}

export function fileInput(path: string): MetadataInput {
  return { source: path, files: [path], repairCommand: `dmthin repair -i ${path} -o NEW` };
}
