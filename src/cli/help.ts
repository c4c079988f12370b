/**
 * Joins the hard-wrapped lines of each paragraph (a blank line separates
 * paragraphs; lines starting with space or "-" stay as they are), so that
 * help text wraps at the terminal's width instead of mid-sentence.
 */
export function unwrapParagraphs(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n\s-])/g, '$1 ');
}
