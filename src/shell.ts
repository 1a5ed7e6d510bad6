/**
 * Shell text is built in one place. `sh` quotes every interpolated value; only a `Shell`
 * value (built by `sh` itself, or marked with `raw` on purpose) is spliced as it is. Commands in
 * a plan are `Shell` values, so an unquoted string cannot reach a host by accident.
 */
export class Shell {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Quote one word for POSIX sh; plain words stay readable. */
export function quote(value: string | number): string {
  const s = String(value);
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

type Value = string | number | Shell | readonly (string | number | Shell)[];

const piece = (v: Value): string => (v instanceof Shell ? v.text : Array.isArray(v) ? v.map(piece).join(' ') : quote(v as string | number));

/** sh`ip rule del ${spec}`: every value quoted, arrays as quoted words, Shell values as they are. */
export function sh(strings: TemplateStringsArray, ...values: Value[]): Shell {
  let out = strings[0]!;
  values.forEach((v, i) => (out += piece(v) + strings[i + 1]!));
  return new Shell(out);
}

/** Text that is shell on purpose (a template's output, a fixed snippet). Never pass host or inventory data. */
export const raw = (text: string): Shell => new Shell(text);

/** Lines joined into one script. */
export const script = (lines: readonly Shell[]): Shell => new Shell(lines.map((l) => l.text).join('\n'));

/**
 * `cmd` reading `content` on its standard input through a here-document. The delimiter is
 * quoted (no expansion inside) and chosen so that no line of the content can end it early.
 */
export function heredoc(cmd: Shell, content: string): Shell {
  let tag = 'TPRUN_EOF';
  const lines = new Set(content.split('\n'));
  for (let i = 1; lines.has(tag); i++) tag = `TPRUN_EOF_${i}`;
  return new Shell(`${cmd.text} <<'${tag}'\n${content}\n${tag}`);
}
