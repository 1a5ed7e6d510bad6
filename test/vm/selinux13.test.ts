/** The SELinux VM suite on Debian 13 (test/vm/selinux-suite.ts): its reference policy, squid 6.13 behind the squid alternative. */
import { heldBack } from './skip.ts';
import { selinuxSuite } from './selinux-suite.ts';

// Passes alone (4/4: 7.5 min, 6.7 min since one policy rebuild less, load 3-6), but with its
// SELinux template's cold boot on a fresh machine (1.5-3 min) it would take CI's VM side past
// its 52 min budget (README, "The VM lab").
if (heldBack('selinux13', 'about 9 min on a fresh machine: past the CI budget of the VM side')) selinuxSuite('13');
