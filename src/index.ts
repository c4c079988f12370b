/**
 * dmthin's library API. Layers, each looking only down (docs/layout.md):
 * format (on-disk codecs) -> io (block reads, the two doors for writes) ->
 * pdata (B-tree traversal and builder, space maps) -> thin (what the tools
 * do: check/, dump/, restore/, repair/, delta/, insight/) -> driver (the
 * kernel through dmsetup and losetup), lvm (pools in disk images, read
 * without lvm2), docker, containerd (its bbolt stores: format/bbolt), pack. The VM test harness is not part of it.
 *
 * @example
 * ```ts
 * import { check, Metadata, dump, XmlWriter, Output } from 'dmthin';
 * const r = check('/dev/mapper/pool_tmeta');
 * if (!r.ok) for (const f of r.findings) console.log(f.block, f.message);
 * ```
 */
export { BlockReader, type BlockReaderOptions } from './io/block-reader.js';
export { BlockWriter } from './io/block-writer.js';
export { Output } from './io/output.js';
export { OutputFile, withOutput, type OutputOptions } from './io/output-file.js';
export { StagedBlocks } from './io/staged-blocks.js';
export { errnoWords, fileError, refuseInputAsOutput, sameFile, statInput } from './io/files.js';

export * from './format/errors.js';
export * from './errors.js';
export { BLOCK_SIZE, Salt, type BlockKind, classifyBlock, computeChecksum, stampChecksum } from './format/checksum.js';
export * from './format/superblock.js';
export * from './format/btree-node.js';
export * from './format/block-time.js';
export * from './format/device-details.js';
export * from './format/space-map-root.js';
export * from './format/index-entry.js';
export * from './format/bitmap.js';
export { parseBytes, parseSectors, parseCount, parseU64, humanSize, unitBytes, U64_MAX } from './format/units.js';

export { RefCounts } from './pdata/ref-counts.js';
export {
  BTreeTraversal,
  forEachLeaf,
  collectU64Leaves,
  MAX_DEPTH,
  type TraversalOptions,
  type Walk,
  type WalkResult,
  type LeafHandler,
  type LeafCheck,
  type ProblemHandler,
} from './pdata/btree/traversal.js';
export { LeafCursor } from './pdata/btree/cursor.js';
export { type KeyRange, type TreeId, type TreeKind, type TreeProblem, type TreeProblemCode, TreeError, rangeText, treeName } from './pdata/btree/problem.js';
export { readIndex, readRefCounts, readBitmap, refCountOf, SpaceMapError, type SpaceMapIndex, type RefCountTree } from './pdata/space-map/reader.js';
export { SpaceMapLookup } from './pdata/space-map/lookup.js';
export { BTreeBuilder, type NodeSink } from './pdata/btree/builder.js';

export { Metadata, type ThinDevice, type OpenOptions } from './thin/metadata.js';
export {
  check,
  describeFinding,
  FINDING_CODES,
  type CheckOptions,
  type CheckResult,
  type Finding,
  type FindingCode,
  type Severity,
} from './thin/check/check.js';
export { checkAndFix, type CheckAndFixOptions, type CheckAndFixResult } from './thin/check/check-and-fix.js';
export { type PoolSource, type PoolSourceKind, filesSource, openMetadata } from './thin/pool-source.js';
export { dump, dumpHeader, type DumpHeader, type DumpOptions, type DumpSink } from './thin/dump/dump.js';
export { dumpToOutput, sinkFor, type DumpFormat } from './thin/dump/dump-format.js';
export { XmlWriter } from './thin/dump/xml-writer.js';
export { HumanWriter } from './thin/dump/human-writer.js';
export { JsonWriter } from './thin/dump/json-writer.js';
export { restore, type RestoreResult } from './thin/restore/restore.js';
export { MetadataBuilder, MetadataTooSmallError, type BuildResult } from './thin/restore/metadata-builder.js';
export { resizeMetadata, smallestNrBlocks, type ResizeResult } from './thin/resize/resize-metadata.js';
export { repair, emitSalvage, withSalvage, type RepairOptions, type RepairResult } from './thin/repair/repair.js';
export { salvage, type Salvage, type SalvageOptions, type SalvagedDevice } from './thin/repair/salvage.js';
export { diagnose, examine, type DiagnoseOptions, type Diagnosis, type DeviceName } from './thin/doctor/diagnose.js';
export { writeKit, type KitOptions } from './thin/doctor/kit.js';
export { reportText, planText } from './thin/doctor/text.js';
export type {
  DoctorReport,
  Problem as DoctorProblem,
  DeviceReport,
  Candidate,
  CandidateMatch,
  PlanStep,
  KitFile,
  KitRole,
  DoctorSeverity,
} from './thin/doctor/report.js';
export { readXml, XmlSyntaxError } from './thin/restore/xml-reader.js';

export { Pool, type PoolCreateOptions, type ActiveThin, validateThinId, validateBlockSize, validateName } from './driver/pool.js';
export { parsePoolStatus, parseThinStatus, type PoolStatus, type ThinStatus, type PoolMode } from './driver/status.js';
export { CommandError } from './driver/exec.js';
export * as dmsetup from './driver/dmsetup.js';
export * as losetup from './driver/losetup.js';

export { lsRows, formatLsTable, parseLsFields, LS_FIELDS, type LsRow, type LsField } from './thin/insight/ls.js';
export { delta, deltaRoots, DeltaStream, type DeltaSink, type DeltaKind, type DeltaOptions } from './thin/delta/delta.js';
export { RunStream } from './thin/runs.js';
export { SimpleDeltaWriter, VerboseDeltaWriter, JsonDeltaWriter, deltaHeader } from './thin/delta/delta-writers.js';
export { rmap, parseRegion, writeRmap, type Region, type RmapRun, type RmapResult } from './thin/insight/rmap.js';
export { estimateMetadataBytes, parseSizeArg, formatEstimate } from './thin/insight/metadata-size.js';
export { freeDataRuns, type FreeRuns } from './thin/free-runs.js';
export { trimData, type TrimResult } from './driver/trim.js';
export { shrink, sizeInBlocks, type ShrinkOptions, type ShrinkResult } from './thin/shrink/shrink.js';
export { planShrink, type ShrinkPlan } from './thin/shrink/plan.js';
export { collectReport, renderReport, report, type ReportData } from './thin/insight/report.js';
export { inferFamily, type FamilyNode } from './thin/insight/family.js';
export { exportDevice, type ExportOptions, type ExportResult } from './thin/export.js';
export { readDockerTree, findDockerDevice, devicePrefix, type DockerTree, type DockerDevice, type Role } from './docker/tree.js';
export { inventory, type Inventory, type InventoryDevice, type Problem, type ProblemKind } from './docker/inventory.js';
export { pack, unpack, type PackResult } from './pack/pack.js';
export { deltaSummary, type DeltaSummary } from './thin/delta/delta-summary.js';
export { send, type SendOptions, type SendResult } from './stream/send.js';
export { receive, openStream, admit, applyStream, type ReceiveOptions, type ReceiveResult, type TargetState, type VerifiedStream } from './stream/receive.js';
export { parseHeader, writeHeader, type StreamHeader } from './stream/format.js';
export { receiveIntoThin, type ReceiveThinOptions } from './driver/receive-thin.js';
export { sendThinLive, type LiveSendOptions, type LiveReport } from './driver/send-thin.js';
export { runningPool, lvmDmName, refuseRecoveryFromRunning, type RunningProbe } from './lvm/running.js';
export { runningVg, type VgIdentity, type VgRunningProbe } from './lvm/running.js';
export { writeVgText, nextTextOffset, maxTextSize, type VgWriteResult, type AreaWrite, type WriteVgOptions } from './lvm/write-vg.js';
export { cutPoolData, type PoolTextCut, type FreedExtents } from './lvm/shrink-pool-text.js';
export { openImages, LvmImages, type ImageSet } from './lvm/images.js';
export { openPool, type OpenPool, type PoolIdentity } from './lvm/open-pool.js';
export { openDockerPool, type DockerPoolSource } from './docker/pool-source.js';
export { BoltDb } from './format/bbolt/db.js';
export { BoltError } from './format/bbolt/errors.js';
export { openContainerdPool, type ContainerdPoolSource, type ContainerdLocations } from './containerd/pool-source.js';
export {
  containerdInventory,
  type ContainerdInventory,
  type ContainerdSnapshot,
  type ContainerdProblem,
  type ContainerdProblemCode,
} from './containerd/inventory.js';
export { removedSnapshots, type RemovedReport, type RemovedSnapshot } from './containerd/removed.js';
export { containerdDoctor } from './containerd/doctor-containerd.js';
export { withLivePool, type LivePoolSource } from './driver/pool-source.js';
export { exportLv, type LvExportOptions, type LvExportResult } from './lvm/export-lv.js';
export { exportDeletedLv, type DeletedLvExportReport } from './lvm/export-deleted-lv.js';
export { undeleteLv, type LvUndelete } from './lvm/undelete-lv.js';
export { planLvSend, sendLv, type LvSendPlan } from './lvm/send-lv.js';
