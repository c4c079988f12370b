/**
 * Whether a thin pool found in disk images is the one the kernel is running.
 * `dmthin lvm send` reads images in place; on a live system the images can
 * be the very disks of an active pool, whose metadata the kernel rewrites
 * while it is read. Such a pool must be read through the kernel (a metadata
 * snapshot, as `dmthin send POOL ID` does) and its images left alone.
 *
 * Read from sysfs only (no dmsetup, which an analysis machine may not have):
 * /dev/mapper/NAME's dm uuid says which VG it belongs to (LVM names it
 * "LVM-" + the VG's uuid + the LV's, without dashes; lvm2
 * lib/activate/dev_manager.c), and its slaves, followed down, are the disks
 * and loop devices under it.
 *
 * Here, in lvm/, and not in driver/: it talks to no command, and the lvm
 * verbs that must refuse a running pool (export, export --deleted, undelete,
 * send) are in lvm/, one level with driver/, which they do not import.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../errors.js';
import type { PoolIdentity } from './open-pool.js';
import { printable } from './printable.js';

/**
 * Says whether the kernel runs pool `p` from `images`: its dm name when it
 * does. runningPool (sysfs) by default; tests give their own, since a
 * running pool cannot be made without device-mapper.
 */
export type RunningProbe = (p: PoolIdentity, images: readonly string[]) => string | undefined;

/**
 * LVM's dm name of VG/LV (and a layer such as "tpool"): a "-" inside either
 * name is doubled so that the single "-" between them stays unambiguous
 * (libdm's dm_build_dm_name).
 */
export function lvmDmName(vg: string, lv: string, layer?: string): string {
  const q = (s: string): string => s.replace(/-/g, '--');
  return `${q(vg)}-${q(lv)}${layer ? `-${layer}` : ''}`;
}

/**
 * The dm name of VG/POOL's thin-pool device when the kernel runs that pool
 * from `images` (one of them is under it); undefined when no such pool is
 * active, or when the one active is another VG's of the same name or runs
 * from other disks (then the images are a copy, to be read as they are).
 */
export function runningPool(p: PoolIdentity, images: readonly string[]): string | undefined {
  const dmName = lvmDmName(p.vg, p.pool, 'tpool');
  const node = `/dev/mapper/${dmName}`;
  if (!existsSync(node)) return undefined;
  let dm = '';
  let uuid = '';
  try {
    dm = sysName(node);
    uuid = readFileSync(`/sys/class/block/${dm}/dm/uuid`, 'utf8').trim();
  } catch {
    // No sysfs: nothing says the VG is this one. Refuse rather than read a disk the kernel may be writing.
    throw new UsageError(`${node} exists but its dm uuid cannot be read from /sys: cannot tell whether the images are that pool's disks`);
  }
  // Another VG of the same name (the host's own "pve" while an evidence image's "pve" is examined).
  if (!uuid.startsWith(`LVM-${p.vgId.replace(/-/g, '')}`)) return undefined;
  return runsFrom(dm, images) ? dmName : undefined;
}

/** Whether dm device `dm` (a kernel name: dm-4) sits on one of `images`: a disk or partition under it, or the file a loop device under it reads. */
function runsFrom(dm: string, images: readonly string[]): boolean {
  const under = leaves(dm);
  const isUnder = (image: string): boolean => {
    const st = statSync(image);
    if (st.isBlockDevice()) return under.has(sysName(image));
    // A file: is it what one of the loop devices under the device reads?
    for (const d of under) {
      try {
        const backing = statSync(readFileSync(`/sys/class/block/${d}/loop/backing_file`, 'utf8').trim());
        if (backing.dev === st.dev && backing.ino === st.ino) return true;
      } catch {
        // Not a loop device, or its file is gone.
      }
    }
    return false;
  };
  return images.some(isUnder);
}

/** A VG by name and uuid: what tells whether the kernel runs any LV of it (runningVg). */
export interface VgIdentity {
  vg: string;
  vgId: string;
}

/** Says whether the kernel runs any LV of `vg` from `images`: a dm name when it does. runningVg by default; tests give their own. */
export type VgRunningProbe = (vg: VgIdentity, images: readonly string[]) => string | undefined;

/**
 * The dm name of an active LV of VG `vg` (its dm uuid begins "LVM-" and the
 * VG's uuid) that sits on one of `images`; undefined when none does. What
 * must refuse to rewrite a VG's metadata areas: lvm2 keeps the VG it
 * activated in memory and would write its own text over ours.
 */
export function runningVg(vg: VgIdentity, images: readonly string[]): string | undefined {
  const prefix = `LVM-${vg.vgId.replace(/-/g, '')}`;
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/block').filter((n) => n.startsWith('dm-'));
  } catch {
    return undefined; // no sysfs: no device-mapper device to run it
  }
  for (const dm of names) {
    let uuid = '';
    try {
      uuid = readFileSync(`/sys/class/block/${dm}/dm/uuid`, 'utf8').trim();
    } catch {
      continue; // gone while listed
    }
    if (!uuid.startsWith(prefix) || !runsFrom(dm, images)) continue;
    try {
      return readFileSync(`/sys/class/block/${dm}/dm/name`, 'utf8').trim();
    } catch {
      return dm;
    }
  }
  return undefined;
}

/**
 * The kernel's name of a block device node (sda3, loop0, dm-4) by its device
 * number: /dev/mapper nodes made without udev are nodes, not links to /dev/dm-N.
 */
function sysName(node: string): string {
  const rdev = statSync(node).rdev;
  // Linux's dev_t: major in bits 8-19, minor in bits 0-7 and 20-31 (glibc's gnu_dev_major/minor, below 2^32).
  const major = Math.floor(rdev / 0x100) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 0x1000) & 0xfff00);
  return basename(realpathSync(`/sys/dev/block/${major}:${minor}`));
}

/** The block devices at the bottom of dm device `dm`'s stack (disks, partitions, loop devices). */
function leaves(dm: string): Set<string> {
  const out = new Set<string>();
  const walk = (name: string, depth: number): void => {
    let slaves: string[] = [];
    try {
      slaves = readdirSync(`/sys/class/block/${name}/slaves`);
    } catch {
      // A partition or a device without slaves: a leaf.
    }
    if (slaves.length === 0 || depth > 16) out.add(name);
    for (const s of slaves) walk(s, depth + 1);
  };
  walk(dm, 0);
  return out;
}

/**
 * Recovery of a removed LV (`vgLv`) from a pool the kernel runs: every block
 * the pool allocates may be one of the removed LV's, and its metadata changes
 * while it is read. Refused; the way on is to stop the pool, or to work on a
 * copy.
 */
export function refuseRecoveryFromRunning(p: PoolIdentity, images: readonly string[], vgLv: string, running: RunningProbe = runningPool): void {
  const live = running(p, images);
  if (live) {
    throw new UsageError(
      `the kernel runs ${printable(p.vg)}/${printable(p.pool)} from these disks (${live}): any block it allocates may be one of ${vgLv}'s, and its metadata changes while it is read. ` +
        `Deactivate the pool first (vgchange -an ${printable(p.vg)}), or work on a copy of the disks (docs/recovery.md)`,
    );
  }
}
