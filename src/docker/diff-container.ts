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

export function containerDiffSides(tree: DockerTree, what: string): { before: DiffSide; after: DiffSide } {
  const layer = findDockerDevice(tree, what);
  if (layer.role !== 'container layer') {
    const containers = tree.devices.filter((d) => d.role === 'container layer').map((d) => d.container ?? d.containerId ?? d.hash);
    throw new ArgumentError(
      `'${what}' is ${layer.role === 'unknown' ? 'a device Docker records no role for' : `thin ${layer.deviceId}, the ${layer.role} device`}, not a container: docker diff compares a container with its image; give a container's name or id (${containers.length ? containers.join(', ') : 'none here'}), or compare any two devices with dmthin diff --snap1 A --snap2 B`,
    );
  }
  const init = tree.devices.find((d) => d.role === 'container init layer' && d.containerId === layer.containerId);
  if (!init) {
    throw new UsageError(
      `container ${layer.container ?? layer.containerId}: Docker records no init layer for it (${tree.root}/image/devicemapper/layerdb/mounts): nothing to compare it with`,
    );
  }
  const side = (d: DockerDevice, what: string): DiffSide => ({
    devId: d.deviceId,
    name: `container ${layer.container ?? layer.containerId} (${what} ${d.hash.slice(0, 12)})`,
    ...(d.size ? { size: d.size } : {}),
  });
  return { before: side(init, 'init layer'), after: side(layer, 'layer') };
}
