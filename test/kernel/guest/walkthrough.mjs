// Runs the demo's seed walkthrough (dist/src/demo/walkthrough.js) on a real
// kernel and records its narration and exit status in WORK_DIR/observed.json.
// Usage: node walkthrough.mjs PROJECT_ROOT WORK_DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root, work] = process.argv.slice(2);
mkdirSync(work, { recursive: true });
const { walkthrough } = await import(join(root, 'dist', 'src', 'demo', 'walkthrough.js'));
let text = '';
const code = walkthrough({
  dir: join(work, 'demo'),
  cli: join(root, 'dist', 'dmthin.cjs'),
  write: (s) => {
    text += s;
  },
});
writeFileSync(join(work, 'observed.json'), JSON.stringify({ code, text }));
