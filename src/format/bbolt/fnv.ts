/**
 * FNV-1a, 64-bit: the checksum of a bbolt meta page (bbolt
 * internal/common/meta.go, Meta.Sum64, through Go's hash/fnv New64a).
 * Offset basis 14695981039346656037, prime 1099511628211: xor each byte in,
 * then multiply, modulo 2^64.
 */
const OFFSET_BASIS = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

export function fnv1a64(bytes: Uint8Array): bigint {
  // BigInt arithmetic: the meta hashes 56 bytes, so speed does not matter and exactness does.
  let h = OFFSET_BASIS;
  for (const byte of bytes) h = ((h ^ BigInt(byte)) * PRIME) & MASK;
  return h;
}
