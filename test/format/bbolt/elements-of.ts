/** The leaf elements of page `id` of a 4 KiB-page image, for tests that count what a scan should find. */
import { type LeafElement, parseLeafElements } from '../../../src/format/bbolt/elements.js';
import { parsePageHeader } from '../../../src/format/bbolt/page.js';

export function elementsOf(image: Uint8Array, id: number, pageSize = 4096): LeafElement[] {
  const where = { file: 'test', page: id };
  const page = image.subarray(id * pageSize, (id + 1) * pageSize);
  return parseLeafElements(page, parsePageHeader(page, where).count, where);
}
