/**
 * A bridge host's broute implementations: what moves port-P frames from bridging to routing.
 *
 * - ebtables-legacy (the kernel's ebtables broute table, `-j redirect --redirect-target DROP`),
 *   always called by that name: Debian 13's `ebtables` alternative is ebtables-nft (priority 20
 *   over legacy's 10), whose broute table (1.8.10+) turns only a plain `-j DROP` into
 *   `meta broute`; the redirect form runs through nft_compat as a real drop (a black hole).
 * - native nftables, `table bridge tprun` with `meta broute set 1` (nftables >= 1.0.8 and Linux
 *   >= 6.4, NFT_BRIDGE_META), probed with `nft -c`, which the kernel validates without committing.
 *
 * chooseBroute (pure) decides from these facts; the boot script decides the same way on the host.
 */
import { Fact } from '../../src/facts/fact.ts';
import { compareVersions, parseSaveTable, parseVersion } from '../../src/facts/parsers.ts';
import { raw } from '../../src/shell.ts';
import { EB_LIST_TO_SAVE } from '../../src/firewall/ebtables.ts';

export { EB_LIST_TO_SAVE };

/** The nft probe: a bridge prerouting chain with `meta broute set 1` (checked by nft and the kernel, never committed). */
export const NFT_BROUTE_PROBE = 'table bridge tprun_probe { chain p { type filter hook prerouting priority 0; meta broute set 1; }; }';

/** Shell: prints "legacy" or "nft" (the same choice as chooseBroute), or nothing. Used by the boot script. */
export const CHOOSE_SHELL = `if command -v ebtables-legacy >/dev/null 2>&1 && ebtables-legacy -t broute -L >/dev/null 2>&1; then echo legacy
elif command -v nft >/dev/null 2>&1 && echo '${NFT_BROUTE_PROBE}' | nft -c -f - >/dev/null 2>&1; then echo nft
fi`;

export type Probe = { state: 'ok' } | { state: 'absent' } | { state: 'fails'; said: string };

export interface BrouteFacts {
  kernel: string;
  /** /etc/os-release ID and ID_LIKE words, e.g. ["debian"], ["rhel", "centos", "fedora"]. */
  os: string[];
  /** ebtables-legacy's broute table. */
  legacy: Probe;
  /** `ebtables --version` (the default alternative), or null. */
  ebtables: string | null;
  /** `nft --version`, or null. */
  nft: string | null;
  /** nft -c of NFT_BROUTE_PROBE. */
  nftBroute: Probe;
}

const probe = (v: string | undefined): Probe =>
  v === undefined || v === 'absent'
    ? { state: 'absent' }
    : v === 'ok'
      ? { state: 'ok' }
      : { state: 'fails', said: v.replace(/^fails:\s*/, '').replace(/, known keys are .*$/, '') };

export function parseBrouteFacts(stdout: string): BrouteFacts {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([a-z_]+)=(.*)$/.exec(line);
    if (m && !kv.has(m[1]!)) kv.set(m[1]!, m[2]!.trim());
  }
  const tool = (k: string) => (kv.get(k) && kv.get(k) !== 'absent' ? kv.get(k)! : null);
  return {
    kernel: kv.get('kernel') ?? '',
    os: (kv.get('os') ?? '').split(/\s+/).filter(Boolean),
    legacy: probe(kv.get('legacy')),
    ebtables: tool('ebtables'),
    nft: tool('nft'),
    nftBroute: probe(kv.get('nft_broute')),
  };
}

export const brouteFacts = new Fact<BrouteFacts>(
  'bridge.broute',
  raw(`echo "kernel=$(uname -r)"
( . /etc/os-release 2>/dev/null; echo "os=\${ID:-} \${ID_LIKE:-}" )
if ! command -v ebtables-legacy >/dev/null 2>&1; then echo legacy=absent
elif out=$(ebtables-legacy -t broute -L 2>&1); then echo legacy=ok
else echo "legacy=fails: $(printf '%s' "$out" | head -1)"; fi
if command -v ebtables >/dev/null 2>&1; then echo "ebtables=$(ebtables --version 2>&1 | head -1)"; else echo ebtables=absent; fi
if ! command -v nft >/dev/null 2>&1; then echo nft=absent; echo nft_broute=absent
else echo "nft=$(nft --version 2>&1 | head -1)"
  if out=$(echo '${NFT_BROUTE_PROBE}' | nft -c -f - 2>&1); then echo nft_broute=ok
  else echo "nft_broute=fails: $(printf '%s' "$out" | grep -m1 -i error || printf '%s' "$out" | head -1)"; fi
fi`),
  ({ stdout }) => parseBrouteFacts(stdout),
);

export type BrouteChoice = { impl: 'legacy' | 'nft'; found: string } | { impl: null; found: string; hint: string };

const version = (s: string | null) => (s ? (/\d+\.\d+(\.\d+)?/.exec(s)?.[0] ?? s) : '');
const atLeast = (s: string, v: number[]) => {
  const p = parseVersion(s);
  return !!p && compareVersions(p, v) >= 0;
};

/**
 * The broute implementation for a bridge host, from its facts (pure; the boot script's
 * CHOOSE_SHELL decides in the same order): ebtables-legacy where installed and its broute table
 * works; else native nftables where nft and the kernel accept `meta broute`; else none, with
 * what to install for the host's family. Never ebtables-nft (see the file's comment).
 */
export function chooseBroute(f: BrouteFacts): BrouteChoice {
  if (f.legacy.state === 'ok') return { impl: 'legacy', found: 'ebtables-legacy (its broute table works)' };
  if (f.nftBroute.state === 'ok') return { impl: 'nft', found: `nftables bridge meta broute (${f.nft ?? 'nft'}, kernel ${f.kernel})` };
  const legacy = f.legacy.state === 'absent' ? 'ebtables-legacy not installed' : `ebtables-legacy has no broute table (${f.legacy.said})`;
  const kernelOld = !atLeast(f.kernel, [6, 4]);
  const nft =
    f.nft === null
      ? 'nft not installed'
      : f.nftBroute.state === 'fails'
        ? `nft ${version(f.nft)} cannot set meta broute${kernelOld ? ` (kernel ${f.kernel} < 6.4, no NFT_BRIDGE_META)` : ''}: ${f.nftBroute.said}`
        : 'nft not probed';
  const found = `no usable broute: ${legacy}; ${nft}${f.ebtables && /nf_tables/.test(f.ebtables) ? `; the default ebtables is ${f.ebtables}, never used (its redirect target drops)` : ''}`;
  // RHEL and its rebuilds (ID_LIKE "rhel ...", or "fedora" alone on CentOS Stream's older releases) ship
  // no ebtables-legacy; Fedora itself does (dnf install ebtables-legacy).
  const fedora = f.os[0] === 'fedora';
  const rhel = !fedora && f.os.some((w) => ['rhel', 'centos', 'fedora', 'rocky', 'almalinux', 'ol'].includes(w));
  const debian = f.os.some((w) => w === 'debian' || w === 'ubuntu');
  const hint = rhel
    ? f.nft === null
      ? `this family ships no ebtables-legacy: install nftables (dnf install nftables); meta broute also needs a kernel >= 6.4 with NFT_BRIDGE_META${kernelOld ? ` (this one is ${f.kernel})` : ''}`
      : kernelOld
        ? `this family ships no ebtables-legacy, and kernel ${f.kernel} has no nftables meta broute (Linux 6.4, NFT_BRIDGE_META): no package fixes that; a bridge needs a kernel >= 6.4 (RHEL 10's 6.12), else deploy this host as a router`
        : `this family ships no ebtables-legacy: nftables meta broute needs the kernel's NFT_BRIDGE_META (modprobe nft_meta_bridge) and nftables >= 1.0.8 (here ${f.nft})`
    : fedora && f.legacy.state === 'absent'
      ? 'dnf install ebtables-legacy, or nftables >= 1.0.8 on Linux >= 6.4'
      : debian
        ? f.legacy.state === 'absent'
          ? 'apt-get install ebtables (it provides ebtables-legacy)'
          : 'the kernel needs CONFIG_BRIDGE_EBT_BROUTE (ebtables-legacy), or Linux >= 6.4 with NFT_BRIDGE_META and nftables >= 1.0.8'
        : f.legacy.state === 'absent'
          ? 'install ebtables-legacy (Debian: apt-get install ebtables), or nftables >= 1.0.8 on Linux >= 6.4'
          : 'the kernel needs CONFIG_BRIDGE_EBT_BROUTE, or Linux >= 6.4 with NFT_BRIDGE_META and nftables >= 1.0.8';
  return { impl: null, found, hint };
}

/** A broute table listed with `-L` in save format, by one ebtables binary; null where it is missing or has no broute table. */
const ebSave = (id: string, bin: string) =>
  new Fact(
    id,
    raw(
      `command -v ${bin} >/dev/null || exit 127; out=$(${bin} -t broute -L 2>&1) || { printf '%s\\n' "$out"; exit 3; }; printf '%s\\n' "$out" | ${EB_LIST_TO_SAVE.text}`,
    ),
    (r) => (r.code === 0 ? parseSaveTable(r.stdout, 'broute') : null),
  );

/** ebtables-legacy's broute table (where tprun's chain lives on legacy hosts). */
export const ebtablesSave = ebSave('ebtables.save', 'ebtables-legacy');
/** ebtables-nft's broute table: a TPRUN_BROUTING there is the black-hole form, always removed. */
export const ebtablesNftSave = ebSave('ebtables-nft.save', 'ebtables-nft');

/** `nft list table bridge tprun`: the rules of its brouting chain (counters dropped), or null when there is no such table. */
export const nftBrouteTable = new Fact<string[] | null>(
  'nft.bridge-tprun',
  raw('command -v nft >/dev/null || exit 127; nft list table bridge tprun 2>/dev/null || exit 3'),
  (r) => (r.code === 0 ? parseNftChainRules(r.stdout) : null),
);

/** Rule lines of an `nft list table` listing (chain headers, hooks and braces dropped; counters' numbers dropped). */
export function parseNftChainRules(listing: string): string[] {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(table|chain) .*\{$/.test(l) && l !== '}' && !/^type .* hook /.test(l))
    .map(normaliseNftRule);
}

export const normaliseNftRule = (rule: string) =>
  rule
    .replace(/\s+#\s*handle \d+$/, '')
    .replace(/counter packets \d+ bytes \d+/, 'counter')
    .replace(/\s+/g, ' ')
    .trim();
