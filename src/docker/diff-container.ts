/**
 * A container as the two sides of docker diff: its init layer (the image as
 * the container started from it, with Docker's own /etc/hosts and the like)
 * before, its container layer after: what `docker diff` lists, read offline.
 */
import { ArgumentError, UsageError } from '../errors.js';
import type { DiffSide } from '../thin/file-diff.js';
import { type DockerDevice, type DockerTree, findDockerDevice } from './tree.js';

/** Where Docker's devicemapper driver keeps a container's root on its device (daemon/graphdriver/devmapper: Get returns the mount's rootfs). */
export const DOCKER_ROOTFS = '/rootfs';

/**
 * A removed container (docker rm deletes its devices and its records):
 * given by its layer's thin id as `dmthin docker ls` lists the removed
 * devices, with its init layer's (`init`): nothing left records which one
 * that was. Both are read as recovery brings them back; their size is the
 * pool's base size, which every device Docker makes has unless told else.
 */
function removedSides(tree: DockerTree, what: string, init: number | undefined): { before: DiffSide; after: DiffSide } | undefined {
  if (!/^\d+$/.test(what) || tree.devices.some((d) => String(d.deviceId) === what)) return undefined;
  if (init === undefined) {
    throw new ArgumentError(
      `'${what}' is no device Docker records: if it is the thin id of a removed container's layer (dmthin docker ls lists the removed devices), give its init layer's thin id too with --init ID (Docker makes the init layer just before the container, so usually the id below)`,
    );
  }
  const known = tree.devices.find((d) => d.deviceId === init);
  if (known) {
    throw new ArgumentError(
      `--init ${init} is ${known.container ? `container ${known.container}'s` : 'a live'} ${known.role} (${known.hash.slice(0, 12)}), not a removed container's init layer: give the removed init layer's thin id (dmthin docker ls lists the removed devices)`,
    );
  }
  const base = tree.devices.find((d) => d.role === 'base')?.size;
  const side = (id: number, role: string, arg: string): DiffSide => ({ devId: id, name: `${role} thin ${id}`, arg, ...(base ? { size: base } : {}) });
  return { before: side(init, 'init layer', '--init'), after: side(Number(what), 'container layer', 'the removed container layer') };
}

export function containerDiffSides(tree: DockerTree, what: string, init?: number): { before: DiffSide; after: DiffSide } {
  const removed = removedSides(tree, what, init);
  if (removed) return removed;
  if (init !== undefined)
    throw new ArgumentError(`--init is for a removed container given by its thin id; '${what}' is one Docker records, with its own init layer`);
  const layer = withRemovedHint(() => findDockerDevice(tree, what));
  if (layer.role !== 'container layer') {
    const containers = tree.devices.filter((d) => d.role === 'container layer').map((d) => d.container ?? d.containerId ?? d.hash);
    throw new ArgumentError(
      `'${what}' is ${layer.role === 'unknown' ? 'a device Docker records no role for' : `thin ${layer.deviceId}, the ${layer.role} device`}, not a container: docker diff compares a container with its image; give a container's name or id (${containers.length ? containers.join(', ') : 'none here'}), or compare any two devices with dmthin diff --snap1 A --snap2 B`,
    );
  }
  const initLayer = tree.devices.find((d) => d.role === 'container init layer' && d.containerId === layer.containerId);
  if (!initLayer) {
    throw new UsageError(
      `container ${layer.container ?? layer.containerId}: Docker records no init layer for it (${tree.root}/image/devicemapper/layerdb/mounts): nothing to compare it with`,
    );
  }
  const side = (d: DockerDevice, what: string): DiffSide => ({
    devId: d.deviceId,
    name: `container ${layer.container ?? layer.containerId} (${what} ${d.hash.slice(0, 12)})`,
    ...(d.size ? { size: d.size } : {}),
  });
  return { before: side(initLayer, 'init layer'), after: side(layer, 'layer') };
}

/** An unknown name may be a removed container's: docker rm took its name with it, so say how to reach it. */
function withRemovedHint<T>(find: () => T): T {
  try {
    return find();
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw e;
    throw new ArgumentError(
      `${e.message}; a removed container (docker rm) is known by its layer's thin id only: dmthin docker ls ROOT lists the removed devices, then docker diff ROOT LAYER_ID --init INIT_ID`,
    );
  }
}
