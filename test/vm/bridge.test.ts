/** The bridge VM suite on Debian 12 (test/vm/bridge-suite.ts): ebtables-legacy's broute table. */
import { bridgeSuite } from './bridge-suite.ts';

bridgeSuite('12');
