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
