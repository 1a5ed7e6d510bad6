/** The fault matrix's rows that restore firewall rules (faults.ts), on `tproxy.backend: nftables`. */
import { faultSuite } from './faults.ts';

faultSuite('nftables');
