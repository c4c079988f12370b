/**
 * Names read from disk images (VG, LV and PV names, device hints, uuids)
 * are whatever bytes the image holds: a hostile or damaged one can carry
 * a newline that forges a second line of a report, or a terminal escape.
 * Every message that shows such a name shows it through printable().
 */

/** `s` with C0 controls, DEL and the C1 range escaped as \n, \t or \xNN (and a backslash as \\). */
export function printable(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this function's purpose
  return s.replace(/[\\\x00-\x1f\x7f-\x9f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}
