/** The packet a host intercepts, from the inventory; and a finding in words, for check and doctor alike. */
import { receivingInterfaces } from '../../inventory/interfaces.ts';
import type { Host } from '../../inventory/types.ts';
import type { Finding, Interception } from './evaluate.ts';

export function interceptionOf(host: Host): Interception {
  const t = host.vars.tproxy;
  return {
    families: t.families,
    ports: [...new Set([...t.ports, ...t.https_ports])],
    mark: t.mark,
    mask: t.mask,
    // lo stands for "any" in tproxy.interfaces' default: intercepted packets never arrive on it.
    interfaces: receivingInterfaces(host).filter((i) => i !== 'lo'),
  };
}

/** "nft table inet firewalld chain filter_INPUT (input, priority 10): rule "…" drops IPv4 tcp/80 (new)" */
export function findingText(f: Finding): string {
  const where = `${f.table} chain ${f.chain} (hook ${f.hook}, priority ${f.priority})`;
  const what = f.rule === null ? 'its policy drop' : `rule "${f.rule}"${f.ruleChain !== f.chain ? ` (in chain ${f.ruleChain})` : ''}`;
  const undecided = f.undecided.length ? `; undecided: ${f.undecided.join('; ')}` : '';
  const packets = [f.packets.length ? `drops ${f.packets.join(', ')}` : '', f.mayPackets.length ? `may drop ${f.mayPackets.join(', ')}` : ''];
  return `${where}: ${what} ${packets.filter(Boolean).join('; ')}${undecided}`;
}
