/**
 * --json output. The rule: the library's types and the objects the CLI
 * builds are camelCase; formatJson is the one place keys become snake_case.
 */
/** Whether the command line asked for JSON: errors then go to stderr as a JSON object too. */
export function wantsJson(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--json') || argv.some((a, i) => (a === '-f' || a === '--format') && argv[i + 1] === 'json') || argv.includes('--format=json');
}

/** camelCase -> snake_case (the names the kernel and thin-provisioning-tools use). */
export function snakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** A value with every object key in snake_case, for --json output. */
export function snakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeKeys);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), snakeKeys(x)]));
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [snakeCase(k), snakeKeys(x)]),
    );
  }
  return v;
}

/**
 * The one place JSON keys become snake_case: the library's types and the
 * objects the CLI builds are camelCase, and every JSON dmthin prints goes
 * through here (one object, a final newline). A key that is data (a name,
 * a path) goes in a Map, whose keys are kept as they are.
 */
export function formatJson(value: unknown, indent = 2): string {
  return `${jsonText(snakeKeys(value), indent)}\n`;
}

/** The one way commands print --json: formatJson on a stream. */
export function printJson(value: unknown, stream: NodeJS.WriteStream = process.stdout, indent = 2): void {
  stream.write(formatJson(value, indent));
}

/** JSON.stringify that writes bigints (u64 transaction ids) as plain JSON numbers, every digit kept. */
export function jsonText(value: unknown, indent = 0): string {
  const text = JSON.stringify(value, (_k, x: unknown) => (typeof x === 'bigint' ? `@@u64:${x}@@` : x), indent);
  return text.replace(/"@@u64:(\d+)@@"/g, '$1');
}

/**
 * What a command did: `text` on `stream` for a person, or with --json the
 * same as `value` on stdout (on stderr when `output` is '-', where the data goes).
 */
export function announce(json: boolean | undefined, text: string, value: object, stream: NodeJS.WriteStream = process.stdout, output?: string): void {
  if (json) printJson(value, output === '-' ? process.stderr : process.stdout, 0);
  else stream.write(`${text}\n`);
}
