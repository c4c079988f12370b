/**
 * A pool's data device opened for reading: a path or any ByteSource (a
 * data LV inside disk images). A block device may be larger than the pool
 * uses; a file or an LV smaller than the pool's data blocks is the wrong
 * one, and is refused before anything is read or written.
 */
import { UsageError } from '../errors.js';
import { type ByteSource, FileSource } from '../io/byte-source.js';
import { DATA_BLOCK_SIZE_RULE, validDataBlockSize } from '../format/superblock.js';

export function openPoolData(input: string | ByteSource, nrDataBlocks: number, blockBytes: number): ByteSource {
  // Callers check the superblock's field first (Metadata.dataBlockBytes, with the file named); this keeps every data read behind the rule.
  if (!validDataBlockSize(blockBytes / 512))
    throw new UsageError(`the pool's data block size (${blockBytes / 512} sectors) ${DATA_BLOCK_SIZE_RULE}: no data block can be located`);
  const data = typeof input === 'string' ? new FileSource(input, 'data') : input;
  if (!(data instanceof FileSource && data.isBlockDevice) && data.size < nrDataBlocks * blockBytes) {
    data.close();
    throw new UsageError(
      `data ${data.name} (${data.size} bytes) is smaller than the pool's ${nrDataBlocks} data blocks of ${blockBytes} bytes: is it the pool's data file?`,
    );
  }
  return data;
}
