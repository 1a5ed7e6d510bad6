/**
 * Output hygiene, applied where text leaves tprun (terminal views, -v, reports), never inside
 * the planner: text that came from a host is shown with its control characters made visible,
 * XML gets only characters XML allows, and secrets are replaced by a marker.
 */

/** C0 and C1 controls, DEL, and the Unicode line separators and bidi overrides a terminal obeys. */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => {
  const n = c.codePointAt(0)!;
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
};

/**
 * The text with every control character written out as \xNN (\u{NNNN} above 0xff): an escape
 * sequence, a carriage return or a bell reaches the terminal as letters. `allow` lists the
 * characters a view keeps as they are (e.g. "\n\t" where the view itself splits lines).
 */
export function visible(text: string, allow = ''): string {
  return text.replace(CONTROL, (c) => (allow.includes(c) ? c : escape(c)));
}

/** Characters XML 1.0 does not allow (and \r, which a parser would turn into \n), as u-mode code points. */
const NOT_XML = /[^\t\n\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/** Text XML can hold, whatever the bytes: what XML 1.0 forbids is written out as \xNN. */
export function xmlSafe(text: string): string {
  return visible(text, '\t\n').replace(NOT_XML, escape);
}

export const REDACTED = '[redacted]';

/** squid.conf (and URL) credentials: login=user:password, password=..., //user:password@ */
const CREDENTIALS = [/\b((?:login|password|passwd)=)("[^"]*"|\S+)/gi, /(\/\/[^\s/:@]+:)([^\s/@]+)(?=@)/g];

/**
 * The text without secrets: every occurrence of a value the inventory marks `!secret` (and
 * any other secret given, e.g. a passphrase), and the value of squid's credential options.
 * Values shorter than 3 characters are not searched for (they would blank out the report).
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of [...new Set(secrets)].filter((x) => x.length >= 3).sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  for (const re of CREDENTIALS) out = out.replace(re, (_m, head: string) => head + REDACTED);
  return out;
}

/** Here-document bodies (file contents in base64, restore payloads) cut down to their size. */
export function elideHeredocs(command: string): string {
  return command.replace(
    /<<'([A-Za-z0-9_]+)'\n([\s\S]*?)\n\1(?=\n|$)/g,
    (_m, tag: string, body: string) => `<<'${tag}' … ${body.split('\n').length} lines … ${tag}`,
  );
}

/**
 * A command as shown in plans and reports: here-document bodies elided and content digests
 * masked, both of which a secret in a file would otherwise reach (a digest of a file whose other
 * lines the diff shows lets a secret be guessed offline).
 */
export function elideContent(command: string): string {
  return elideHeredocs(command).replace(/\b[0-9a-f]{64}\b/g, '[sha256]');
}

/** For reports: every string of a JSON-like value passed through `f` (keys are tprun's own). */
export function mapStrings<T>(value: T, f: (s: string) => string): T {
  if (typeof value === 'string') return f(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f)) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, k, { value: mapStrings(v, f), enumerable: true, writable: true, configurable: true });
    return out as T;
  }
  return value;
}
