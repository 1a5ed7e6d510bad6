/** The SELinux VM suite on Debian 13 (test/vm/selinux-suite.ts): its reference policy, squid 6.13 behind the squid alternative. */
import { selinuxSuite } from './selinux-suite.ts';

selinuxSuite('13');
