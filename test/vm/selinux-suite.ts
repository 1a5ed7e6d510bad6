/**
 * SELinux enforcing, for real (QEMU VM booted with security=selinux, Debian's reference policy),
 * shared by selinux.test.ts (Debian 12) and selinux13.test.ts (Debian 13): tprun sets
 * squid_connect_any and squid_use_tproxy persistently, squid runs confined (squid_t) on its
 * tproxy port and interception works; check reads runtime and persistent values; a policy
 * without the booleans gets the fallback path (a warning pointing at squidtproxy.te, and that
 * rendered module compiles and loads into the real policy).
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as topo from './topology.ts';
import * as vm from './vmlab.ts';
import { beforeLab, skipReason, timed } from './skip.ts';

export function selinuxSuite(release: vm.Release): void {
  const test = suite(`SELinux (Debian ${release})`);
  const skip = skipReason();
  const t = skip ? test.skip : test;
  if (skip) console.log(`VM SELinux tests skipped: ${skip}`);

  let lab: topo.Lab;
  let se1: vm.Vm;
  const out = (r: { out: string; err: string }) => r.out + r.err;
  const tprun = (...args: string[]) => vm.tprunInCtl(args);
  const on = (cmd: string) => {
    const r = vm.onVm(se1, cmd, 900_000);
    assert.is(r.code, 0, `${cmd}: ${out(r)}`);
    return r.out;
  };

  function intercepted(f: 4 | 6): void {
    const r = vm.get(topo.CLIENT, f === 4 ? `http://${topo.ORIGIN4}/` : `http://[${topo.ORIGIN6}]/`);
    assert.is(r.status, 200, r.raw);
    assert.is(r.body.trim(), `origin saw ${f === 4 ? topo.CLIENT4 : topo.CLIENT6}`);
    assert.match(r.via ?? '', /\bse1 \(squid\/\d/, r.raw);
  }

  beforeLab(test, async () => {
    if (skip) return;
    const s = await timed(() => topo.bring('selinux', release));
    lab = s.value;
    se1 = lab.vms[0]!;
    console.log(`  SELinux VM lab (Debian ${release}) up in ${s.seconds.toFixed(1)} s`);
  });
  test.after(() => {
    if (!skip) vm.down();
  });

  t('enforcing mode: check finds both booleans off (exit 2)', () => {
    on('setenforce 1');
    assert.is(on('getenforce').trim(), 'Enforcing');
    const c = tprun('check', lab.inventory, '--diff');
    assert.is(c.code, 2, out(c));
    assert.match(c.out, /selinux squid_connect_any: off/);
    assert.match(c.out, /selinux squid_use_tproxy: off/);
  });

  t('apply sets both booleans at runtime and persistently; squid runs confined on its tproxy port; interception works', () => {
    const r = tprun('apply', lab.inventory);
    assert.is(r.code, 2, out(r)); // changes applied
    assert.is(on('getenforce').trim(), 'Enforcing');
    assert.match(on('getsebool squid_connect_any squid_use_tproxy'), /squid_connect_any --> on\nsquid_use_tproxy --> on/);
    const local = on('cat /var/lib/selinux/default/active/booleans.local');
    assert.match(local, /^squid_connect_any=1$/m);
    assert.match(local, /^squid_use_tproxy=1$/m);
    assert.match(on('ps -eZ | grep -w squid'), /:squid_t:/);
    assert.match(on('ss -ltnpZ'), /:3129 .*"squid".*squid_t/);
    intercepted(4);
    intercepted(6);
    assert.match(on('cat /var/log/squid/access.log'), /198\.51\.100\.2 TCP_MISS\/200 .* ORIGINAL_DST\/203\.0\.113\.2/);
    assert.is(tprun('check', lab.inventory).code, 0);
  });

  t('check reads runtime and persistent values: each drift alone is found, apply repairs both', () => {
    on('setsebool squid_connect_any off'); // runtime only
    on('setsebool -P squid_use_tproxy off && setsebool squid_use_tproxy on'); // persistent only
    const c = tprun('check', lab.inventory, '--diff');
    assert.is(c.code, 2, out(c));
    assert.match(c.out, /selinux squid_connect_any: off \(on at boot\)/);
    assert.match(c.out, /selinux squid_use_tproxy: on \(off at boot\)/);
    assert.is(tprun('apply', lab.inventory).code, 2);
    assert.match(on('cat /var/lib/selinux/default/active/booleans.local'), /^squid_use_tproxy=1$/m);
    assert.is(tprun('check', lab.inventory).code, 0);
    intercepted(4);
  });

  t('a policy without the booleans: the fallback warning, and the rendered squidtproxy.te loads into the real policy', () => {
    on('semodule -d lightsquid -d squid'); // lightsquid depends on squid
    const c = tprun('check', lab.inventory, '--report', 'json:-');
    assert.is(c.code, 0, out(c));
    const diags = JSON.parse(c.out)
      .hosts[0].diagnostics.map((d: { message: string }) => d.message)
      .join('\n');
    for (const b of ['squid_connect_any', 'squid_use_tproxy']) assert.match(diags, new RegExp(`the SELinux policy has no ${b} boolean: .*squidtproxy\\.te`));
    // The operator's route: the module tprun renders, built and loaded (it needs the squid types back).
    const render = tprun('render', lab.inventory, '--out', `${vm.STATE}/render`);
    assert.is(render.code, 0, out(render));
    const te = Buffer.from(readFileSync(`${vm.STATE}/render/se1/etc/tprun/selinux/squidtproxy.te`)).toString('base64');
    // One semodule call, one transaction: each commit rebuilds the whole policy (about 40 s on
    // an idle emulated CPU, minutes under load), and the module needs squid's types back.
    on(
      `mkdir -p /tmp/te && cd /tmp/te && echo ${te} | base64 -d > squidtproxy.te && checkmodule -M -m -o squidtproxy.mod squidtproxy.te && semodule_package -o squidtproxy.pp -m squidtproxy.mod && semodule -e squid -e lightsquid -i squidtproxy.pp`,
    );
    assert.match(on('semodule -l'), /^squidtproxy\b/m);
  });

  test.run();
}
