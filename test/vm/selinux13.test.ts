/** The SELinux VM suite on Debian 13 (test/vm/selinux-suite.ts): its reference policy, squid 6.13 behind the squid alternative. */
import { heldBack } from './skip.ts';
import { selinuxSuite } from './selinux-suite.ts';

if (heldBack('selinux13', 'its run time on a fresh CI machine is not yet measured')) selinuxSuite('13');
