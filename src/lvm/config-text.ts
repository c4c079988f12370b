/**
 * The grammar of LVM's VG text, as libdm's tokeniser reads it
 * (libdm/libdm-config.c _get_token, _section, _value, _type); the text
 * metadata areas, /etc/lvm/backup and /etc/lvm/archive hold it:
 * ```
 * file    = { item }
 * item    = name "=" value | name "{" { item } "}"
 * name    = run of anything but whitespace # = { }   | quoted string
 * value   = scalar | "[" { scalar [","] } "]"          (commas optional)
 * scalar  = [+-]digits (strtoll base 0: a leading 0 is octal)
 *         | "..." (backslash escapes) | '...' (none) | bare word
 * ```
 * `#` starts a comment to the end of the line; whitespace means nothing.
 * Floats exist in lvm.conf but never in VG text: refused by name. libdm
 * merges a repeated name; LVM never writes one, so it is refused here.
 */

export type ConfigScalar = number | string;
export type ConfigValue = ConfigScalar | ConfigScalar[];

/** A section: its items in file order (names are unique within one). */
export class ConfigSection {
  readonly values = new Map<string, ConfigValue>();
  readonly sections = new Map<string, ConfigSection>();
  /** Names in file order, values and sections alike. */
  readonly order: string[] = [];

  constructor(
    readonly name: string,
    /** Line of the opening brace (0 for the file itself). */
    readonly line: number,
  ) {}

  section(name: string): ConfigSection | undefined {
    return this.sections.get(name);
  }

  number(name: string): number | undefined {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : undefined;
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  list(name: string): ConfigScalar[] | undefined {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : undefined;
  }
}

export class ConfigSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'ConfigSyntaxError';
  }
}

/** What ends a name or a bare word (libdm: whitespace # = { }; also , ] " here, inside lists). */
const NAME_END = /[\s#={}[\],"']/;

/** Parses VG text (or a backup file) into its top-level section. */
export function parseConfigText(text: string): ConfigSection {
  let i = 0;
  let line = 1;
  const fail = (detail: string): never => {
    throw new ConfigSyntaxError(line, detail);
  };
  const skip = (): void => {
    while (i < text.length) {
      const c = text[i];
      if (c === '\n') {
        line++;
        i++;
      } else if (c === ' ' || c === '\t' || c === '\r') i++;
      else if (c === '#') {
        while (i < text.length && text[i] !== '\n') i++;
      } else break;
    }
  };
  const word = (): string => {
    const from = i;
    while (i < text.length && !NAME_END.test(text[i])) i++;
    return text.slice(from, i);
  };
  const quoted = (): string => {
    const q = text[i++];
    let s = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i++];
      if (c === q) return s;
      if (c === '\n') line++;
      if (c === '\\' && q === '"' && i < text.length) s += text[i++];
      else s += c;
    }
  };
  const name = (): string => {
    if (text[i] === '"' || text[i] === "'") return quoted();
    const n = word();
    if (n === '') fail(`expected a name, found ${show(text[i])}`);
    return n;
  };
  const scalar = (): ConfigScalar => {
    if (text[i] === '"' || text[i] === "'") return quoted();
    const m = /^[+-]?\d*(\.\d*)?/.exec(text.slice(i, i + 40));
    if (m && m[0] !== '' && /\d/.test(m[0])) {
      if (m[1]) fail(`${m[0]}: VG text has no fractional numbers`);
      const digits = m[0].replace(/^[+-]/, '');
      // strtoll with base 0, as libdm: a leading 0 makes the rest octal.
      const octal = digits.length > 1 && digits[0] === '0';
      if (octal && /[89]/.test(digits)) fail(`${m[0]} is not an octal number`);
      const n = (m[0][0] === '-' ? -1 : 1) * (octal ? Number.parseInt(digits, 8) : Number(digits));
      if (!Number.isSafeInteger(n)) fail(`${m[0]} is too large to hold exactly`);
      i += m[0].length;
      return n;
    }
    const bare = word();
    if (bare === '') fail(`expected a value, found ${show(text[i])}`);
    return bare;
  };
  const value = (): ConfigValue => {
    if (text[i] !== '[') return scalar();
    i++;
    const items: ConfigScalar[] = [];
    skip();
    if (text[i] === ']') {
      i++;
      return items;
    }
    for (;;) {
      skip();
      items.push(scalar());
      skip();
      if (text[i] === ',') {
        i++;
        skip();
      }
      if (text[i] === ']') {
        i++;
        return items;
      }
      if (i >= text.length) fail('unterminated list');
    }
  };
  const body = (into: ConfigSection, closing: boolean): void => {
    for (;;) {
      skip();
      if (i >= text.length) {
        if (closing) fail(`section ${into.name} (line ${into.line}) is not closed`);
        return;
      }
      if (text[i] === '}') {
        if (!closing) fail('"}" without a section to close');
        i++;
        return;
      }
      const n = name();
      if (into.values.has(n) || into.sections.has(n)) fail(`${n} appears twice in ${into.name || 'the file'}`);
      skip();
      if (text[i] === '{') {
        const s = new ConfigSection(n, line);
        i++;
        body(s, true);
        into.sections.set(n, s);
      } else if (text[i] === '=') {
        i++;
        skip();
        into.values.set(n, value());
      } else fail(`expected "=" or "{" after ${n}, found ${show(text[i])}`);
      into.order.push(n);
    }
  };
  const top = new ConfigSection('', 0);
  body(top, false);
  return top;
}

function show(c: string | undefined): string {
  return c === undefined ? 'the end of the text' : JSON.stringify(c);
}
