/**
 * The bridge VM suite on Debian 13 (test/vm/bridge-suite.ts): its default ebtables is
 * ebtables-nft, where tprun never loads rules; without ebtables-legacy the bridge intercepts
 * through nftables' meta broute; nftables.service's restart and reload leave it intercepting.
 */
import { bridgeSuite } from './bridge-suite.ts';

bridgeSuite('13');
