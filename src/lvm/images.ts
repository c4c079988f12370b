/**
 * A set of disk images opened once for a whole command: scanned when first
 * asked (scan.ts: every image opened, its labels, metadata areas and
 * partition tables read), LVM's history worked out from that same scan when
 * first asked (history.ts), closed once. Every lvm verb takes one, so that a
 * command made of several (export --deleted: the history, then the pool;
 * send: the plan, then the stream) reads the images once.
 *
 * Nothing is read before a verb asks for the scan: a verb's own refusals
 * that need no image (a VG/LV that is not one) come first, as they did when
 * each verb scanned for itself.
 */
import { type History, historyOf } from './history.js';
import { type Scan, scanImages } from './scan.js';

export class LvmImages {
  private scanned: Scan | undefined;
  private historyRead: History | undefined;
  private closed = false;

  constructor(readonly paths: readonly string[]) {}

  /** The images scanned, the first time it is asked for. */
  get scan(): Scan {
    // A verb reading images its caller closed is dmthin's bug: scanning them again would hide it.
    if (this.closed) throw new Error(`the images ${this.paths.join(', ')} were read after they were closed`);
    this.scanned ??= scanImages(this.paths);
    return this.scanned;
  }

  /** Every version of every VG the scan's metadata areas hold, and the thin LVs deleted (lvm history). */
  history(): History {
    this.historyRead ??= historyOf(this.scan);
    return this.historyRead;
  }

  /** Closes the images (once, however often it is called). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.scanned?.close();
  }
}

/** Disk images as paths (opened and closed by the verb given them) or opened by the caller (left open). */
export type ImageSet = readonly string[] | LvmImages;

/** The paths of `images`, opened or not. */
export function imagePaths(images: ImageSet): readonly string[] {
  return images instanceof LvmImages ? images.paths : images;
}

/** The images of `paths`, read when first asked for. The caller closes them. */
export function openImages(paths: readonly string[]): LvmImages {
  return new LvmImages(paths);
}

/** Runs `body` on `images`: opened here and closed after when they are paths, as they are when already opened. */
export function withImages<T>(images: ImageSet, body: (opened: LvmImages) => T): T {
  if (images instanceof LvmImages) return body(images);
  const opened = openImages(images);
  try {
    return body(opened);
  } finally {
    opened.close();
  }
}

/** withImages for a body that reads asynchronously: paths are closed once it has settled. */
export async function withImagesAsync<T>(images: ImageSet, body: (opened: LvmImages) => Promise<T>): Promise<T> {
  if (images instanceof LvmImages) return body(images);
  const opened = openImages(images);
  try {
    return await body(opened);
  } finally {
    opened.close();
  }
}

/** `dmthin lvm history`: every version of every VG in the images, what changed, and the thin LVs deleted. */
export function lvmHistory(images: ImageSet): History {
  return withImages(images, (opened) => opened.history());
}
