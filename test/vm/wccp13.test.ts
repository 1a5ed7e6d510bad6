/**
 * The WCCP VM suite on Debian 13 (test/vm/wccp-suite.ts): the nftables backend (nftables.service
 * enabled), rp_filter 2 on every interface from linux-sysctl-defaults.
 */
import { wccpSuite } from './wccp-suite.ts';

wccpSuite('13');
