/**
 * A stand-in dmsetup, first on PATH, for tests of the live pool verbs
 * without device-mapper: it answers for one pool with the table and status
 * lines the test gives, holds and releases a metadata snapshot as the
 * kernel would (reserve_metadata_snap makes `heldRoot` the held root), and
 * logs every call, one line each.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeDmsetup {
  /** Every call so far, one line each ("message fakepool 0 reserve_metadata_snap"). */
  log(): string;
  clearLog(): void;
  /** The status line from now on; HELD in it becomes the held snapshot's root, or - when none is held. */
  setStatus(line: string): void;
  /** PATH as it was. */
  uninstall(): void;
}

export function installFakeDmsetup(dir: string, o: { table: string; status: string; heldRoot: number }): FakeDmsetup {
  const bin = join(dir, 'bin');
  const log = join(dir, 'dm.log');
  const held = join(dir, 'held');
  const status = join(dir, 'status');
  mkdirSync(bin, { recursive: true });
  writeFileSync(log, '');
  writeFileSync(status, `${o.status}\n`);
  // The info line names the device dmthin asked for: the last argument.
  writeFileSync(
    join(bin, 'dmsetup'),
    `#!/bin/sh
echo "$*" >> "${log}"
held="${held}"
for last; do :; done
case "$1" in
  table) echo "${o.table}" ;;
  status) h=-; [ -f "$held" ] && h=$(cat "$held"); sed "s/HELD/$h/" "${status}" ;;
  info) echo "$last;253;0;0;L--w" ;;
  ls) echo "No devices found" ;;
  message)
    case "$4" in
      reserve_metadata_snap) echo ${o.heldRoot} > "$held" ;;
      release_metadata_snap) rm -f "$held" ;;
    esac ;;
esac
`,
  );
  chmodSync(join(bin, 'dmsetup'), 0o755);
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  return {
    log: () => readFileSync(log, 'utf8'),
    clearLog: () => writeFileSync(log, ''),
    setStatus: (line) => writeFileSync(status, `${line}\n`),
    uninstall: () => {
      process.env.PATH = oldPath;
    },
  };
}
