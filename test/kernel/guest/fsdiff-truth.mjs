// The truth for the fsdiff fixture, taken from two mounted filesystems (the
// snapshot and the origin, both mounted read-only by make-fixtures.sh):
// every path of each tree (type, inode, size, nlink, mode, owner, mtime and
// the md5 of a file's bytes or a symlink's target), and the changes between
// them as `docker diff` lists a container against its image. Docker's
// devicemapper driver diffs by walking both trees (go-archive's ChangesDirs):
// a path only in the new tree is A, and so is everything under an added
// directory; a path only in the old tree is D (its subtree is not listed); a
// path in both is C when its mode, owner or device number differ or, for a
// non-directory, its mtime or size (the bytes are not compared); a directory
// with any change beneath it is C. Docker's own order follows Go map
// iteration (random), so the list here is sorted by path.
// Usage: node fsdiff-truth.mjs FILESYSTEM BEFORE_DIR AFTER_DIR > out.json
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const [filesystem, beforeDir, afterDir] = process.argv.slice(2);

function typeOf(st) {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

// A tree of nodes {name, path, st, children} read with lstat, as Docker reads it.
function load(root, rel, name) {
  const st = lstatSync(join(root, rel), { bigint: true });
  const node = { name, path: rel === '' ? '/' : rel, st, children: new Map() };
  if (st.isDirectory()) {
    for (const n of readdirSync(join(root, rel)).sort()) node.children.set(n, load(root, `${rel}/${n}`, n));
  }
  return node;
}

function manifest(root, node, out = []) {
  const st = node.st;
  const e = {
    path: node.path,
    type: typeOf(st),
    inode: Number(st.ino),
    size: Number(st.size),
    nlink: Number(st.nlink),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime_ns: st.mtimeNs.toString(),
  };
  if (st.isFile())
    e.md5 = createHash('md5')
      .update(readFileSync(join(root, node.path)))
      .digest('hex');
  if (st.isSymbolicLink()) e.target = readlinkSync(join(root, node.path));
  out.push(e);
  for (const c of node.children.values()) manifest(root, c, out);
  return out;
}

function sameFsTime(a, b) {
  const [as, an] = [a / 1_000_000_000n, a % 1_000_000_000n];
  const [bs, bn] = [b / 1_000_000_000n, b % 1_000_000_000n];
  return a === b || (as === bs && (an === 0n || bn === 0n));
}

function statDifferent(o, n) {
  return (
    o.mode !== n.mode ||
    o.uid !== n.uid ||
    o.gid !== n.gid ||
    o.rdev !== n.rdev ||
    (!o.isDirectory() && (!sameFsTime(o.mtimeNs, n.mtimeNs) || o.size !== n.size))
  );
}

// [kind, newNode, oldNode] in the order Docker's walk finds them (siblings by name).
function changes(n, o, out) {
  const start = out.length;
  const isDir = n.path === '/' || n.st.isDirectory();
  if (!o) {
    out.push(['A', n, undefined]);
    n.added = true;
  }
  const oldChildren = new Map(o && isDir ? o.children : []);
  for (const [name, c] of n.children) {
    const oc = oldChildren.get(name);
    if (oc) {
      if (statDifferent(oc.st, c.st)) {
        out.push(['C', c, oc]);
        c.added = true;
      }
      oldChildren.delete(name);
    }
    changes(c, oc, out);
  }
  for (const oc of oldChildren.values()) out.push(['D', undefined, oc]);
  if (out.length > start && isDir && !n.added && n.path !== '/') out.splice(start, 0, ['C', n, o]);
}

const before = load(beforeDir, '', '/');
const after = load(afterDir, '', '/');
const found = [];
changes(after, before, found);
const kinds = { A: 'added', C: 'changed', D: 'deleted' };
const list = found
  .map(([k, n, o]) => ({
    kind: kinds[k],
    path: (n ?? o).path,
    inode: Number((n ?? o).st.ino),
    size_before: o ? Number(o.st.size) : null,
    size_after: n ? Number(n.st.size) : null,
  }))
  .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
process.stdout.write(
  `${JSON.stringify(
    {
      filesystem,
      docker_diff: list.map((c) => `${c.kind[0].toUpperCase()} ${c.path}`),
      changes: list,
      before: manifest(beforeDir, before),
      after: manifest(afterDir, after),
    },
    null,
    1,
  )}\n`,
);
