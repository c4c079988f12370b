/** Runs the dmthin CLI from the TypeScript sources' build (dist/), as a user would. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, runTool, type Run } from './env.js';

export const cliPath = join(projectRoot, 'dist', 'dmthin.cjs');

export function dmthin(...args: string[]): Run {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} missing: run npm run build (npm ci builds it)`);
  return runTool(process.execPath, [cliPath, ...args]);
}
