/** dmthin's version, as --version and the thin_* drop-ins' -V print it. */
export const VERSION = '0.1.0';
