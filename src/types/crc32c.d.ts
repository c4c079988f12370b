// crc-32 ships typings for its main entry only; its CRC32C module (CommonJS) has the same API.
declare module 'crc-32/crc32c.js' {
  /** Standard CRC32C of `data`; a signed 32-bit int (use `>>> 0`). */
  export function buf(data: Uint8Array, seed?: number): number;
  const crc32c: { buf: typeof buf };
  export default crc32c;
}
