/** The WCCP VM suite on Debian 12 (test/vm/wccp-suite.ts): the iptables backend. */
import { wccpSuite } from './wccp-suite.ts';

wccpSuite('12');
