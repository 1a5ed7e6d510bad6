/** The fault matrix (faults.ts) on the lab hosts' own firewall backend choice: iptables. */
import { faultSuite } from './faults.ts';

faultSuite('iptables');
