/** Firewall marks are unsigned 32-bit numbers, written in hex as iptables and ip print them. */
export const hex = (n: number) => '0x' + (n >>> 0).toString(16);

/** As `ip rule show` prints a fwmark: the mask only when it is not all ones. */
export const fwmarkSpec = (mark: number, mask: number) => (mask >>> 0 === 0xffffffff ? hex(mark) : `${hex(mark)}/${hex(mask)}`);
