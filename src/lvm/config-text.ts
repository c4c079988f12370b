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

import { printable } from './printable.js';

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
    /** 1-based, in characters of the line. */
    readonly column: number,
    readonly detail: string,
  ) {
    super(`VG text line ${line} column ${column}: ${detail}`);
    this.name = 'ConfigSyntaxError';
  }
}

/**
 * Sections nested deeper than this are refused. LVM writes at most six
 * levels (file, VG, logical_volumes, LV, segment, thin-pool message); a
 * text nested deeper is not LVM's, and a parser that followed it without
 * bound would run out of stack.
 */
export const MAX_SECTION_DEPTH = 32;

/** What ends a name or a bare word (libdm: whitespace # = { }; also , ] " here, inside lists). */
const NAME_END = /[\s#={}[\],"']/;

export interface ParseOptions {
  /** Parse text[from, to) only (lines are counted from `from`): one text among many in a buffer, without a copy. */
  from?: number;
  to?: number;
  /** Refuse a second top-level section at once, as soon as it is named: one VG text holds one VG. */
  oneSection?: boolean;
}

/** Parses VG text (or a backup file) into its top-level section. */
export function parseConfigText(text: string, options: ParseOptions = {}): ConfigSection {
  let i = options.from ?? 0;
  const end = Math.min(options.to ?? text.length, text.length);
  let line = 1;
  /** Index of the first character of the current line. */
  let lineStart = i;
  const cur = (): string | undefined => (i < end ? text[i] : undefined);
  const fail = (detail: string): never => {
    throw new ConfigSyntaxError(line, i - lineStart + 1, detail);
  };
  const skip = (): void => {
    while (i < end) {
      const c = cur();
      if (c === '\n') {
        line++;
        i++;
        lineStart = i;
      } else if (c === ' ' || c === '\t' || c === '\r') i++;
      else if (c === '#') {
        while (i < end && text[i] !== '\n') i++;
      } else break;
    }
  };
  const word = (): string => {
    const from = i;
    while (i < end && !NAME_END.test(text[i])) i++;
    return text.slice(from, i);
  };
  const quoted = (): string => {
    const from = { line, column: i - lineStart + 1 };
    const q = text[i++];
    let s = '';
    for (;;) {
      if (i >= end) throw new ConfigSyntaxError(from.line, from.column, 'string not closed before the end of the text');
      const c = text[i++];
      if (c === q) return s;
      if (c === '\\' && q === '"' && i < end) {
        const e = text[i++];
        if (e === '\n') {
          line++;
          lineStart = i;
        }
        s += e;
        continue;
      }
      if (c === '\n') {
        line++;
        lineStart = i;
      }
      s += c;
    }
  };
  const name = (): string => {
    if (cur() === '"' || cur() === "'") return quoted();
    const n = word();
    if (n === '') fail(`expected a name, found ${show(cur())}`);
    return n;
  };
  const scalar = (): ConfigScalar => {
    if (cur() === '"' || cur() === "'") return quoted();
    const m = /^[+-]?\d*(\.\d*)?/.exec(text.slice(i, Math.min(i + 40, end)));
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
    if (bare === '') fail(`expected a value, found ${show(cur())}`);
    return bare;
  };
  const value = (): ConfigValue => {
    if (cur() !== '[') return scalar();
    i++;
    const items: ConfigScalar[] = [];
    skip();
    if (cur() === ']') {
      i++;
      return items;
    }
    for (;;) {
      skip();
      items.push(scalar());
      skip();
      if (cur() === ',') {
        i++;
        skip();
      }
      if (cur() === ']') {
        i++;
        return items;
      }
      if (i >= end) fail('unterminated list');
    }
  };
  const body = (into: ConfigSection, depth: number): void => {
    const closing = depth > 0;
    for (;;) {
      skip();
      if (i >= end) {
        if (closing) fail(`section ${printable(into.name)} (line ${into.line}) is not closed`);
        return;
      }
      if (cur() === '}') {
        if (!closing) fail('"}" without a section to close');
        i++;
        return;
      }
      const nameAt = { line, column: i - lineStart + 1 };
      const n = name();
      if (into.values.has(n) || into.sections.has(n))
        throw new ConfigSyntaxError(nameAt.line, nameAt.column, `${printable(n)} appears twice in ${into.name ? printable(into.name) : 'the file'}`);
      skip();
      if (cur() === '{') {
        if (depth === 0 && options.oneSection && into.sections.size > 0)
          fail(`a second top-level section ${printable(n)} (expected one: a VG text holds one VG)`);
        if (depth >= MAX_SECTION_DEPTH) fail(`section ${printable(n)} nested ${depth + 1} deep (expected at most ${MAX_SECTION_DEPTH})`);
        const s = new ConfigSection(n, line);
        i++;
        body(s, depth + 1);
        into.sections.set(n, s);
      } else if (cur() === '=') {
        i++;
        skip();
        into.values.set(n, value());
      } else fail(`expected "=" or "{" after ${printable(n)}, found ${show(cur())}`);
      into.order.push(n);
    }
  };
  const top = new ConfigSection('', 0);
  body(top, 0);
  return top;
}

function show(c: string | undefined): string {
  return c === undefined ? 'the end of the text' : `"${printable(c)}"`;
}
