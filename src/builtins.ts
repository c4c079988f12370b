/**
 * Node built-ins that cost every command start-up time when imported at
 * the top (each is compiled on first load, with the streams and classes it
 * pulls in), loaded instead when first used: zlib (the stream format's
 * CRC-32, metadata packs) and crypto (stream identities). Measured in
 * docs/PERFORMANCE.md ("Start-up").
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);
let zlib: typeof import('node:zlib') | undefined;
let crypto: typeof import('node:crypto') | undefined;

export const lazyZlib = (): typeof import('node:zlib') => (zlib ??= load('node:zlib') as typeof import('node:zlib'));
export const lazyCrypto = (): typeof import('node:crypto') => (crypto ??= load('node:crypto') as typeof import('node:crypto'));
