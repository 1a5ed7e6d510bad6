// `npm run vm-lab -- build | up [bridge|wccp|selinux] | down`: the VM lab by hand (test/vm/vmlab.ts).
//   build  the Debian 12 image and both snapshot templates (cached in /var/cache/tprun-vmlab)
//   up     build if needed, then restore a topology's VMs and wire them (default: bridge)
//   down   stop every VM lab process by pid, remove its namespaces, taps and overlays
import { readFileSync } from 'node:fs';
import * as vm from '../test/vm/vmlab.ts';
import * as topo from '../test/vm/topology.ts';

const [cmd, which = 'bridge'] = process.argv.slice(2);
const problem = vm.preflight();
if (problem && cmd !== 'down') {
  console.error(`vm-lab: ${problem}`);
  process.exit(1);
}
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
if (cmd === 'build') {
  const img = vm.ensureImage();
  console.log(img ? `image built in ${img.toFixed(0)} s: ${vm.imageDir()}` : `image cached: ${vm.imageDir()}`);
  await vm.lock();
  for (const kind of ['plain', 'selinux'] as const) {
    const t = await vm.ensureTemplate(kind);
    console.log(t.boot ? `${kind} template: cold boot ${t.boot.toFixed(1)} s, state saved in ${t.save.toFixed(1)} s` : `${kind} template cached`);
  }
  vm.down();
} else if (cmd === 'up') {
  vm.ensureImage();
  const lab = await topo.bring(which as topo.Name);
  // The VMs outlive this command: the lab stays locked as long as the first QEMU runs.
  vm.lockTo(Number(readFileSync(lab.vms[0]!.pidfile, 'utf8').trim()));
  console.log(`vm-lab up (${which}) in ${secs()} s:`);
  for (const v of lab.vms)
    console.log(`  ${v.name}: ssh -i ${vm.key()} -o UserKnownHostsFile=${vm.known()} root@${v.addr}   (from: ip netns exec ${vm.CTL} ...)`);
  console.log(`  inventory: ${lab.inventory}`);
} else if (cmd === 'down') {
  await vm.lock(0).catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
  vm.down();
  console.log('vm-lab down');
} else {
  console.error('usage: npm run vm-lab -- build | up [bridge|wccp|selinux] | down');
  process.exit(1);
}
