/**
 * What cli/lvm.ts and cli/stream.ts import from here: the shared pieces
 * live in their own files (args, json, columns, run, help, drop-ins,
 * progress, version); these re-exports go when those two import from them.
 */
export { arg, parseIntArg, parseSizeArg, parseThinIdArg } from './args.js';
export { alignColumns } from './columns.js';
export { announce, printJson } from './json.js';
export { reportError, run } from './run.js';
