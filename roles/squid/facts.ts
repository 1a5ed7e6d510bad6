/** What the squid role reads on a host: the build, its libcap, whether it runs. */
import { Fact, stdoutIfOk } from '../../src/facts/fact.ts';
import { parseLibcapPath, parseSquidV } from '../../src/facts/parsers.ts';
import { raw, sh } from '../../src/shell.ts';

export const squidBuild = new Fact('squid.version', raw('command -v squid >/dev/null || exit 127; squid -v'), (r) => {
  const text = stdoutIfOk(r);
  return text === null ? null : parseSquidV(text);
});

export const squidLibcap = new Fact(
  'squid.libcap',
  raw(`s=$(command -v squid) || exit 127
p=$(ldd "$s" | awk '/libcap\\.so/ {print $3; exit}')
[ -n "$p" ] || exit 3
readlink -f "$p"`),
  (r) => {
    const path = stdoutIfOk(r)?.trim();
    return path ? { path, version: parseLibcapPath(path) } : null;
  },
);

/** `squid -k check` succeeds when a squid with this configuration's pid file is running. */
export const squidRunning = (config: string) => new Fact('squid.running', sh`command -v squid >/dev/null || exit 127; squid -k check -f ${config} 2>&1`, (r) => r.code === 0);
