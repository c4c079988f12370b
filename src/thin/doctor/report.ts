/**
 * What `doctor` answers about a pool, whatever holds it (thin/pool-source.ts):
 * what is wrong (problems, each with a stable code, a severity and its
 * minimal fix), what each device lost in the user's names and bytes, where
 * the lost data may still be (candidate data blocks), and the steps to take.
 * Field names are camelCase here; `--json` prints them snake_case
 * (cli/json.ts), as the keys are: problems[].{code, severity,
 * summary}, devices[].{device_id, name, size, mapped_bytes, lost[], ...}.
 */
import type { ByteSpan, LostPart } from '../lost-holds.js';
import type { PoolSourceKind } from '../pool-source.js';

/** fatal: the kernel will not activate the pool (or data is lost); non_fatal: it will, but something is wrong; info: worth knowing. */
export type DoctorSeverity = 'fatal' | 'non_fatal' | 'info';

/** The diagnoses doctor makes (docs/doctor.md explains each); check's finding codes also appear where no diagnosis covers them. */
export const DIAGNOSIS_CODES = [
  'superblock',
  'needs_check_flag',
  'transaction_id_mismatch',
  'lost_mappings',
  'leaked_blocks',
  'metadata_space_exhausted',
  'data_space_exhausted',
  'data_device_too_small',
  'missing_pv',
  'old_metadata_area',
  'unfinished_shrink',
  'pool_running',
  'pool_read_only',
  'pool_failed',
] as const;
export type DiagnosisCode = (typeof DIAGNOSIS_CODES)[number];

export interface Problem {
  /** A diagnosis code, or a check finding code (thin/check/check.ts FINDING_CODES) no diagnosis covers. */
  code: DiagnosisCode | string;
  severity: DoctorSeverity;
  /** One line for a person: what is wrong, in the pool's and devices' names. */
  summary: string;
  /** The minimal fix, one line (the plan gives the commands). */
  fix: string;
  /** Knock-on findings that follow from this cause: counted by code, not listed. */
  followers?: { code: string; count: number }[];
  /** Numbers a script may want (e.g. for transaction_id_mismatch: {lvm, pool}); keys camelCase. */
  facts?: Record<string, number | string | boolean>;
}

/** A byte range of a thin device. */
/** A byte range of a device: the one the lost-range code uses (thin/lost-holds.ts ByteSpan). */
export type ByteRange = ByteSpan;

export interface DeviceReport {
  deviceId: number;
  /** The user's name: the thin LV, the Docker container or image layer; absent for a raw pool. */
  name?: string;
  /** Virtual size in bytes, when known (LVM's size, Docker's, or the mappings' extent). */
  size?: number;
  mappedBytes: number;
  /** Byte ranges no trustworthy mapping gives after the best repair (they read as zeros). */
  lost: ByteRange[];
  /**
   * Of `lost`, the bytes that were mapped, when the newest device details
   * say (their mapped_blocks less what survives and what older copies give
   * back): a lost node's key range also holds blocks never written, and
   * nothing says which, so `lost` is the bound and this the amount.
   */
  lostMappedBytes?: number;
  /** Mappings the repair took from older copies of lost nodes. */
  recoveredFromOlder: number;
  /**
   * The last lost range runs on to the device's end, which a raw pool's
   * metadata does not record: `lost` stops where the lost mappings' count
   * reaches; LVM and Docker know the size (their doctors give the range whole).
   */
  lostToEnd?: boolean;
  /**
   * What the lost ranges held, read from the filesystem on the device where
   * its structures survive: its own structures (superblock, group
   * descriptors, inode table for inodes N..M, journal) or files and
   * directories by path and inode, or free space.
   */
  lostHolds?: LostPart[];
  /** Why `lostHolds` could not be told (no filesystem known, its structures lost too). */
  lostHoldsUnknown?: string;
}

export type { LostPart } from '../lost-holds.js';

export interface CandidateMatch {
  deviceId: number;
  /** The byte offset in the device the block may have held. */
  offset: number;
  /** Why: what was compared and how well it matched. Inference, never written into repaired metadata. */
  evidence: string;
}

/** A data block counted used and mapped by nothing: lost data may still be in it. */
export interface Candidate {
  dataBlock: number;
  /** Its byte offset in the data device. */
  offset: number;
  matches: CandidateMatch[];
}

export interface PlanStep {
  /** What to do and why, in the real names and sizes. */
  step: string;
  /** The exact command, when one does it. */
  command?: string;
}

export type KitRole = 'repaired_metadata' | 'vg_text' | 'original_metadata' | 'original_metadata_pack' | 'candidate_block' | 'inferred_export';

export interface KitFile {
  path: string;
  role: KitRole;
  deviceId?: number;
}

export interface DoctorReport {
  pool: { kind: PoolSourceKind; name: string; running?: string };
  /** No problem above info. */
  healthy: boolean;
  problems: Problem[];
  devices: DeviceReport[];
  candidates: Candidate[];
  plan: PlanStep[];
  /** What `-o DIR` wrote. */
  kit?: { dir: string; files: KitFile[] };
}
