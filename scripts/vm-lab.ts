// `npm run vm-lab -- build | up [bridge|wccp|selinux|firewalld] | down [--release 12|13] [--firewalld]`: the VM lab by hand
// (test/vm/vmlab.ts).
//   build  the Debian image and both snapshot templates (cached in /var/cache/tprun-vmlab)
//   up     build if needed, then restore a topology's VMs and wire them (default: bridge)
//   --release 13  Debian 13 (trixie) VMs instead of Debian 12 (bookworm, the default)
//   --firewalld   (Debian 13) firewalld enabled and started on every VM, as Debian ships it
//   down   stop every VM lab process by pid, remove its namespaces, taps and overlays
import { readFileSync } from 'node:fs';
import * as vm from '../test/vm/vmlab.ts';
import * as topo from '../test/vm/topology.ts';

const argv = process.argv.slice(2);
const fi = argv.indexOf('--firewalld');
const withFirewalld = fi >= 0 && argv.splice(fi, 1).length > 0;
const ri = argv.indexOf('--release');
const release = ri >= 0 ? argv.splice(ri, 2)[1] : '12';
if (!vm.RELEASES.includes(release as vm.Release)) {
  console.error(`vm-lab: --release ${release ?? ''}: 12 or 13`);
  process.exit(1);
}
vm.setRelease(release as vm.Release);
const [cmd, which = 'bridge'] = argv;
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
  const lab = await topo.bring(which as topo.Name, release as vm.Release);
  if (withFirewalld) for (const v of lab.vms) topo.enableFirewalld(v);
  // The VMs outlive this command: the lab stays locked as long as the first QEMU runs.
  vm.lockTo(Number(readFileSync(lab.vms[0]!.pidfile, 'utf8').trim()));
  console.log(`vm-lab up (${which}, Debian ${release}) in ${secs()} s:`);
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
  console.error('usage: npm run vm-lab -- build | up [bridge|wccp|selinux|firewalld] | down [--release 12|13] [--firewalld]');
  process.exit(1);
}
