/** The SELinux VM suite on Debian 12 (test/vm/selinux-suite.ts). */
import { selinuxSuite } from './selinux-suite.ts';

selinuxSuite('12');
