/**
 * What a user names on the command line: a snapshot key (or a prefix of
 * one that fits only it, as `ls` shortens sha256 keys) or a container id,
 * in one namespace or any. A name that fits more than one snapshot is
 * refused with the choices, never picked.
 */
import { ArgumentError } from '../errors.js';
import type { ContainerdInventory, ContainerdSnapshot } from './inventory.js';

export function findContainerdSnapshot(inv: ContainerdInventory, what: string, namespace?: string): ContainerdSnapshot {
  const namespaces = [...new Set(inv.snapshots.map((s) => s.namespace))];
  if (namespace !== undefined && !namespaces.includes(namespace)) {
    throw new ArgumentError(`no namespace ${namespace} has devmapper snapshots${namespaces.length ? `; those that do: ${namespaces.join(', ')}` : ''}`);
  }
  const inNs = inv.snapshots.filter((s) => namespace === undefined || s.namespace === namespace);
  const exact = inNs.filter((s) => s.key === what);
  const byContainer = exact.length ? [] : inNs.filter((s) => s.containers.includes(what));
  const byPrefix = exact.length || byContainer.length || what.length < 4 ? [] : inNs.filter((s) => s.key.startsWith(what));
  const found = exact.length ? exact : byContainer.length ? byContainer : byPrefix;
  const where = namespace === undefined ? '' : ` in namespace ${namespace}`;
  if (found.length === 1) return found[0];
  if (found.length > 1) {
    const names = found.map((s) => `${s.namespace}/${s.key}`);
    const sameKey = new Set(found.map((s) => s.key)).size === 1;
    throw new ArgumentError(
      `${what} names ${found.length} snapshots (${names.join(', ')}): ${sameKey ? 'say which namespace with --namespace NS' : 'give more of the key'}`,
    );
  }
  const keys = inNs.map((s) => `${namespace === undefined ? `${s.namespace}/` : ''}${s.key}`);
  throw new ArgumentError(
    `no devmapper snapshot or container ${what}${where}; ${keys.length ? `the snapshots are: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', ...' : ''} (dmthin containerd ls lists them with their containers)` : 'containerd records none'}; a removed snapshot: dmthin containerd ls --deleted lists what survives, and export and diff take it with --deleted`,
  );
}
