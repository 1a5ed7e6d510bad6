/**
 * The whole packet filter of a host in one fact: every iptables table of each backend
 * (iptables-legacy-save, iptables-nft-save, or plain iptables-save on older hosts; IPv4 and
 * IPv6), and nftables' ruleset as JSON plus its text listing (the rules' text, by handle).
 * Read-only; a tool that is missing is left out.
 */
import { Fact } from '../../facts/fact.ts';
import { raw } from '../../shell.ts';
import { parseRuleset } from './parse.ts';
import type { Ruleset } from './types.ts';

export const RULESET_SCRIPT = `for t in iptables ip6tables; do
  command -v $t >/dev/null 2>&1 && { echo "@@section $t-version"; $t -V 2>&1; }
  found=
  for v in legacy nft; do
    command -v $t-$v-save >/dev/null 2>&1 && { found=1; echo "@@section $t-$v"; $t-$v-save 2>/dev/null; }
  done
  [ -z "$found" ] && command -v $t-save >/dev/null 2>&1 && { echo "@@section $t-default"; $t-save 2>/dev/null; }
done
if command -v nft >/dev/null 2>&1; then
  echo "@@section nft-json"; nft -j list ruleset 2>&1
  echo; echo "@@section nft-text"; nft -a list ruleset 2>/dev/null
fi
true`;

export const ruleset = new Fact<Ruleset>('firewall.ruleset', raw(RULESET_SCRIPT), ({ stdout }) => parseRuleset(stdout));
