/**
 * Names read from images (VG, LV and PV names, tags, device hints) as they
 * may be printed: a name is whatever bytes the image holds, and a terminal
 * obeys the control characters among them (an escape sequence can rewrite
 * the line before it, a carriage return hide what precedes it). Control
 * characters (C0, DEL, C1), the line and paragraph separators and the
 * bidirectional overrides are written as \xNN or \u{N}. Escaping twice
 * changes nothing, so a message built from escaped names may be escaped
 * again where it is printed.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it escapes
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `s` with every character a terminal would act on escaped; a printable name is returned as it is. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
