/**
 * What a user names on the command line: a snapshot key (or a prefix of
 * one that fits only it, as `ls` shortens sha256 keys) or a container id,
 * in one namespace or any. A name that fits more than one snapshot is
 * refused with the choices, never picked.
 */
import { ArgumentError } from '../errors.js';
import { NoSuchSnapshot } from './no-such-snapshot.js';
import type { ContainerdInventory, ContainerdSnapshot } from './inventory.js';
import { type RemovedReport, findRemoved } from './removed.js';

/**
 * NAMESPACE/KEY, as ls and the messages print a snapshot, into its two
 * parts when the first is a namespace (a key holds '/' too: then it stays
 * whole).
 */
export function splitNamespace(what: string, namespace: string | undefined, namespaces: readonly string[]): { what: string; namespace?: string } {
  const slash = what.indexOf('/');
  if (slash <= 0) return { what, namespace };
  const ns = what.slice(0, slash);
  if (!namespaces.includes(ns) || (namespace !== undefined && namespace !== ns)) return { what, namespace };
  return { what: what.slice(slash + 1), namespace: ns };
}

export function findContainerdSnapshot(inv: ContainerdInventory, given: string, givenNamespace?: string): ContainerdSnapshot {
  const namespaces = [...new Set(inv.snapshots.map((s) => s.namespace))];
  const { what, namespace } = splitNamespace(given, givenNamespace, namespaces);
  if (namespace !== undefined && !namespaces.includes(namespace)) {
    throw new ArgumentError(`no namespace ${namespace} has devmapper snapshots${namespaces.length ? `; those that do: ${namespaces.join(', ')}` : ''}`);
  }
  const inNs = inv.snapshots.filter((s) => namespace === undefined || s.namespace === namespace);
  const exact = inNs.filter((s) => s.key === what);
  const byContainer = exact.length ? [] : inNs.filter((s) => s.containers.includes(what));
  // A device name or a thin id, as ls and dmsetup print them.
  const byDevice = exact.length || byContainer.length ? [] : inNs.filter((s) => s.deviceName === what || String(s.deviceId) === what);
  const byPrefix = exact.length || byContainer.length || byDevice.length || what.length < 4 ? [] : inNs.filter((s) => s.key.startsWith(what));
  const found = exact.length ? exact : byContainer.length ? byContainer : byDevice.length ? byDevice : byPrefix;
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
  throw new NoSuchSnapshot(
    `no devmapper snapshot or container ${what}${where}; ${keys.length ? `the snapshots are: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', ...' : ''} (dmthin containerd ls lists them with their containers)` : 'containerd records none'}; a removed snapshot: dmthin containerd ls --deleted lists what survives, and export and diff take it with --deleted`,
  );
}

/**
 * Why a name was not found where it was looked for, when it is there
 * somewhere else: a live snapshot asked for with --deleted, a removed one
 * without, one in another namespace. Undefined when it is nowhere.
 */
export function elsewhere(
  inv: ContainerdInventory,
  what: string,
  namespace: string | undefined,
  removed: RemovedReport | undefined,
  askedRemoved: boolean,
): string | undefined {
  const namespaces = [...new Set(inv.snapshots.map((s) => s.namespace))];
  const split = splitNamespace(what, namespace, namespaces);
  const live = (ns?: string): ContainerdSnapshot | undefined => {
    try {
      return findContainerdSnapshot(inv, split.what, ns);
    } catch (e) {
      if (e instanceof ArgumentError) return undefined; // none there, or more than one: nothing to point to
      throw e;
    }
  };
  if (askedRemoved) {
    const s = live(split.namespace);
    return s ? `${s.namespace}/${s.key} is a live snapshot (thin ${s.deviceId ?? '?'}): drop --deleted` : undefined;
  }
  if (split.namespace !== undefined) {
    const s = live(undefined);
    if (s) return `${split.what} is in namespace ${s.namespace}, not ${split.namespace}`;
  }
  if (removed) {
    try {
      const r = findRemoved(removed, split.what, split.namespace);
      return `${what} is a removed snapshot (thin ${r.deviceId}): add --deleted`;
    } catch (e) {
      if (e instanceof ArgumentError) return undefined;
      throw e;
    }
  }
  return undefined;
}
