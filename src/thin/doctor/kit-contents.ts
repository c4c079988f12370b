/**
 * What a doctor's kit (`-o DIR`) holds, in one text: every doctor's --help
 * (raw, LVM, Docker, live), the text report's kit listing and plan.txt say
 * the same thing, and a file the kit gains is named once, here.
 */
import type { KitRole } from './report.js';

export interface KitEntry {
  path: string;
  role?: KitRole;
  what: string;
}

export const KIT_ENTRIES: readonly KitEntry[] = [
  { path: 'report.json', what: 'the --json report, listing the files below' },
  { path: 'plan.txt', what: 'the steps in order' },
  {
    path: 'original-metadata.bin',
    role: 'original_metadata',
    what: 'the metadata as found, byte for byte (zero runs left as holes): the one copy that keeps the damaged blocks',
  },
  {
    path: 'original-metadata.pack',
    role: 'original_metadata_pack',
    what: "a compact copy of the metadata blocks that check, in thin_metadata_pack's format: the damaged blocks are not in it (they unpack as zeros)",
  },
  {
    path: 'repaired.meta',
    role: 'repaired_metadata',
    what: 'the best repair, checked clean; larger than the original when the metadata was exhausted (when the metadata needs more than a flag cleared)',
  },
  { path: 'VG.vg', role: 'vg_text', what: "lvm doctor: LVM's VG text with the pool's transaction_id, when only that counter differs" },
  { path: 'candidates/data-block-N.bin', role: 'candidate_block', what: "each candidate data block's bytes" },
  {
    path: 'inferred/thin-ID.INFERRED.img',
    role: 'inferred_export',
    what: 'each device with matched candidates, exported from repaired.meta with them placed where the evidence says (inferred: never written into the metadata)',
  },
];

/** The kit's contents for --help. */
export function kitHelp(): string {
  return ['-o DIR writes the kit into DIR, a new directory (made whole or not at all):', ...KIT_ENTRIES.map((e) => `  ${e.path}: ${e.what}`)].join('\n');
}

/** What a kit file of `role` is, for the text report. */
export function kitRoleText(role: KitRole): string {
  return KIT_ENTRIES.find((e) => e.role === role)?.what ?? role;
}
