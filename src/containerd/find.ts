/**
 * What a user names on the command line: a snapshot key or a container id,
 * in one namespace or any. A name that fits more than one snapshot is
 * refused with the choices, never picked.
 */
import { ArgumentError } from '../errors.js';
import type { ContainerdInventory, ContainerdSnapshot } from './inventory.js';

export function findContainerdSnapshot(inv: ContainerdInventory, what: string, namespace?: string): ContainerdSnapshot {
  const inNs = inv.snapshots.filter((s) => namespace === undefined || s.namespace === namespace);
  const byKey = inNs.filter((s) => s.key === what);
  const byContainer = byKey.length ? [] : inNs.filter((s) => s.containers.includes(what));
  const found = byKey.length ? byKey : byContainer;
  const where = namespace === undefined ? '' : ` in namespace ${namespace}`;
  if (found.length === 1) return found[0];
  if (found.length > 1) {
    throw new ArgumentError(
      `${what} names ${found.length} snapshots (${found.map((s) => `${s.namespace}/${s.key}`).join(', ')}): say which with --namespace NS`,
    );
  }
  const keys = inNs.map((s) => `${namespace === undefined ? `${s.namespace}/` : ''}${s.key}`);
  throw new ArgumentError(
    `no devmapper snapshot or container ${what}${where}; ${keys.length ? `the snapshots are: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', ...' : ''} (dmthin containerd ls lists them with their containers)` : 'containerd records none'}`,
  );
}
