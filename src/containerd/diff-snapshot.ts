/**
 * A snapshot as the two sides of a diff: its parent's device before, its
 * own after. The devmapper snapshotter makes every snapshot a thin snapshot
 * of its parent's device holding the whole filesystem at its root, so what
 * differs between the two devices is what the container (or the layer's
 * unpacking) changed: `ctr snapshots diff` and `docker diff` read offline.
 */
import { ArgumentError, UsageError } from '../errors.js';
import type { DiffSide } from '../thin/file-diff.js';
import { findContainerdSnapshot } from './find.js';
import type { ContainerdInventory, ContainerdSnapshot } from './inventory.js';
import { type RemovedReport, findRemoved } from './removed.js';
import type { Metadata } from '../thin/metadata.js';
import { closestLive } from '../thin/recover/closest-live.js';

function side(s: ContainerdSnapshot, deviceId: number): DiffSide {
  return { devId: deviceId, name: `${s.namespace}/${s.key} (thin ${deviceId})`, ...(s.size ? { size: s.size } : {}) };
}

export function snapshotDiffSides(inv: ContainerdInventory, what: string, namespace?: string): { before: DiffSide; after: DiffSide } {
  const snap = findContainerdSnapshot(inv, what, namespace);
  const label = `${snap.namespace}/${snap.key}`;
  if (!snap.parent) {
    throw new ArgumentError(
      `${label} is a bottom layer (no parent): there is nothing under it to compare with; dmthin containerd export writes it whole, and dmthin diff --snap1 A --snap2 B compares any two devices`,
    );
  }
  const parent = inv.snapshots.find((s) => s.namespace === snap.namespace && s.key === snap.parent);
  if (snap.deviceId === undefined) throw new UsageError(`${label} has no thin device in the snapshotter's records (dmthin containerd ls says why)`);
  if (parent?.deviceId === undefined) {
    throw new UsageError(
      `${label}'s parent ${snap.parent} has no thin device in the snapshotter's records (dmthin containerd ls says why): nothing to compare it with`,
    );
  }
  return { before: side(parent, parent.deviceId), after: side(snap, snap.deviceId) };
}

/**
 * A removed snapshot (removed.ts) against its parent: the parent its
 * surviving record names, or the one given (`parent`, a live key). With
 * neither, the live device sharing the most blocks with it is offered in
 * the refusal, with its numbers, and not taken.
 */
export function removedDiffSides(
  inv: ContainerdInventory,
  report: RemovedReport,
  md: Metadata,
  what: string,
  namespace?: string,
  parent?: string,
): { before: DiffSide; after: DiffSide } {
  const r = findRemoved(report, what, namespace);
  const named = r.names.length === 1 ? r.names[0] : undefined;
  const label = named?.key ? `removed ${named.namespace}/${named.key} (thin ${r.deviceId})` : `removed thin ${r.deviceId}`;
  const after: DiffSide = { devId: r.deviceId, name: label, ...(r.size ? { size: r.size } : {}) };
  let base: ContainerdSnapshot | undefined;
  if (parent !== undefined) base = findContainerdSnapshot(inv, parent, namespace ?? named?.namespace);
  else if (named?.parent && named.namespace) base = inv.snapshots.find((s) => s.namespace === named.namespace && s.key === named.parent);
  if (!base) {
    const dev = report.scan.devices.find((d) => d.devId === r.deviceId);
    const close = dev ? closestLive(md, dev) : undefined;
    const snap = close ? inv.snapshots.find((s) => s.deviceId === close.devId) : undefined;
    throw new ArgumentError(
      `no surviving record names the parent of ${label}${named?.parent ? ` (${named.parent} is no live snapshot)` : ''}: give it with --parent KEY${
        close
          ? `; the live device sharing the most of its blocks is ${snap ? `${snap.namespace}/${snap.key}` : `thin ${close.devId}`} (thin ${close.devId}: ${close.shared} of its ${close.mapped} mapped blocks), most likely the one it was made from`
          : ''
      }`,
    );
  }
  if (base.deviceId === undefined)
    throw new UsageError(`${base.namespace}/${base.key} has no thin device in the snapshotter's records (dmthin containerd ls says why)`);
  return { before: side(base, base.deviceId), after };
}
