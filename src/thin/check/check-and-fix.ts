/**
 * thin_check's whole decision, as a library call: check, then the only two
 * writes a check may make (give back leaked blocks, clear NEEDS_CHECK),
 * then the exit status. The CLI parses options, calls this, and prints.
 */
import { ArgumentError, UsageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { type CheckOptions, type CheckResult, checkBlocks, unreadable } from './check.js';
import { clearNeedsCheck, repairLeaks } from './fix.js';
import { CheckSession } from './session.js';
import type { PoolSource } from '../pool-source.js';

export interface CheckAndFixOptions extends CheckOptions {
  /** Give back leaked blocks (blocks counted once that nothing uses). */
  autoRepair?: boolean;
  /** After a clean check, clear the superblock's NEEDS_CHECK flag (leaks are given back first). */
  clearNeedsCheckFlag?: boolean;
  /** Leaked blocks alone do not fail the check. */
  ignoreNonFatalErrors?: boolean;
}

export interface CheckAndFixResult {
  /** The check's result; after leaks were given back, the second check's. */
  result: CheckResult;
  /** Leaked blocks given back, when any were. */
  gaveBack?: { data: number; metadata: number };
  clearedNeedsCheck: boolean;
  /** 0 clean; 1 fatal findings, or non-fatal ones unless ignored. */
  exitCode: 0 | 1;
}

/** Refuses combinations thin_check refuses; throws ArgumentError. */
export function validateCheckAndFix(o: CheckAndFixOptions): void {
  const writes = o.clearNeedsCheckFlag || o.autoRepair;
  if (writes && (o.metadataSnap || o.overrideMappingRoot !== undefined || o.overrideDetailsRoot !== undefined)) {
    throw new ArgumentError(
      'cannot perform repair outside the actual metadata: --auto-repair and --clear-needs-check-flag do not go with -m or --override-*-root',
    );
  }
  if (o.autoRepair && (o.superBlockOnly || o.skipMappings || o.ignoreNonFatalErrors)) {
    throw new ArgumentError('--auto-repair needs the full check: not with --super-block-only, --skip-mappings or --ignore-non-fatal-errors');
  }
}

/**
 * Checks a pool source's metadata, a file or device by path, or any
 * ByteSource (only ever read), in one session: the metadata is opened
 * once (read-write only when a write was asked), the leaks the check found
 * are given back and the flag cleared through that handle, and the
 * re-check reads it there too; the superblock is validated once per check
 * and the writes use that copy.
 */
export function checkAndFix(input: PoolSource | string | ByteSource, options: CheckAndFixOptions = {}): CheckAndFixResult {
  validateCheckAndFix(options);
  const pool = typeof input === 'object' && 'kind' in input ? input : undefined;
  const path = pool ? pool.metadata : (input as string | ByteSource);
  const writes = !!(options.autoRepair || options.clearNeedsCheckFlag);
  if (writes && (pool ? !pool.writable : typeof path !== 'string')) {
    const name = typeof path === 'string' ? path : path.name;
    throw new UsageError(`${name} is read in place and never written: --auto-repair and --clear-needs-check-flag need a metadata file or device`);
  }
  // A live pool is read at the metadata snapshot it holds.
  const o = pool?.metadataSnap !== undefined ? { ...options, metadataSnap: true } : options;
  let session: CheckSession;
  try {
    session = CheckSession.open(path, writes);
  } catch (e) {
    // What cannot be opened is a finding, as check() makes it.
    return finish({ result: unreadable(e as Error), clearedNeedsCheck: false, exitCode: 1 }, o);
  }
  try {
    let reader = session.reader();
    let pass = checkBlocks(reader, o);
    const out: CheckAndFixResult = { result: pass.result, clearedNeedsCheck: false, exitCode: 1 };
    // Leaks are given back only after a full check (--clear-needs-check-flag
    // with a partial check clears the flag if that check passes, as thin_check does).
    const leaks = pass.result.leaks;
    if (writes && pass.result.ok && pass.superblock && leaks && (leaks.data.length || leaks.metadata.length)) {
      out.gaveBack = repairLeaks(session, reader, pass.superblock, leaks);
      reader.close();
      reader = session.reader();
      pass = checkBlocks(reader, {});
      out.result = pass.result;
    }
    reader.close();
    const r = out.result;
    const clean = r.ok && (o.ignoreNonFatalErrors || r.findings.length === 0);
    // thin_check 1.x clears the flag after --auto-repair too (its auto_repair_clears_needs_check case): a clean check is what the flag asks for.
    if ((o.clearNeedsCheckFlag || o.autoRepair) && clean && pass.superblock) out.clearedNeedsCheck = clearNeedsCheck(session, pass.superblock);
    return finish(out, o);
  } finally {
    session.close();
  }
}

function finish(out: CheckAndFixResult, o: CheckAndFixOptions): CheckAndFixResult {
  const fatal = out.result.findings.some((f) => f.severity === 'fatal');
  const nonFatal = out.result.findings.some((f) => f.severity === 'non-fatal');
  out.exitCode = fatal || (nonFatal && !o.ignoreNonFatalErrors) ? 1 : 0;
  return out;
}
