/**
 * The WCCP VM suite on Debian 13 (test/vm/wccp-suite.ts): the nftables backend (nftables.service
 * enabled), rp_filter 2 on every interface from linux-sysctl-defaults.
 */
import { heldBack } from './skip.ts';
import { wccpSuite } from './wccp-suite.ts';

if (heldBack('wccp13', 'its run time on a fresh CI machine is not yet measured')) wccpSuite('13');
