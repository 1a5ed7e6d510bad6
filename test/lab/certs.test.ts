/**
 * Host certificates for real (issue #16): lab hosts whose sshd presents a HostCertificate signed
 * by a CA, and a known_hosts for tprun holding only `@cert-authority 198.18.1.* …`. tprun
 * connects to such a host, and through such a jump host; without the CA line it meets the plain
 * key as an unknown key; an expired certificate fails with its date. Run with TPRUN_LAB_PREFIX /
 * TPRUN_LAB_STATE to keep it apart from other labs.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
const caOnly = () => `${lab.STATE}/known_hosts_ca`;
const hostKey = (i: number) => `${lab.STATE}/${lab.hostNs(i)}/ssh_host_ed25519_key`;

/** Sign host i's key with the lab CA (principal: its address) and have its sshd present the certificate. */
function certify(i: number, validity = '-5m:+1h', principal = lab.hostAddr(i)): void {
  execFileSync('ssh-keygen', ['-q', '-s', `${lab.STATE}/ca`, '-I', `lab ${lab.hostName(i)}`, '-h', '-n', principal, '-V', validity, `${hostKey(i)}.pub`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const config = `${lab.STATE}/${lab.hostNs(i)}/sshd_config`;
  if (!readFileSync(config, 'utf8').includes('HostCertificate')) appendFileSync(config, `HostCertificate ${hostKey(i)}-cert.pub\n`);
  lab.restartSshd(i);
}

/** An inventory for host i with its own known_hosts (and more ssh keys). */
const inventory = (name: string, i: number, knownHosts: string, ssh = '') =>
  lab.writeInventory(name, { routers: [i], extra: { [i]: `ssh: { known_hosts: ${knownHosts}, config_file: none${ssh ? `, ${ssh}` : ''} }` } });

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 4 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab-ca', '-f', `${lab.STATE}/ca`]);
  const ca = readFileSync(`${lab.STATE}/ca.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(caOnly(), `@cert-authority 198.18.1.* ${ca}\n`);
  for (const i of [1, 2, 3]) certify(i);
});
test.after(() => {
  if (!skip) lab.down();
});

t('a host known only through @cert-authority: tprun check connects (its sshd presents a certificate)', () => {
  const r = tprun('check', inventory('cert', 1, caOnly()));
  assert.is(r.code, 2, out(r));
  assert.match(r.out, /^h1: drifted/m);
  const facts = tprun('facts', inventory('cert', 1, caOnly()), '--limit', 'h1', '--json');
  assert.is(facts.code, 0, out(facts));
  assert.ok(JSON.parse(facts.out).h1, 'facts were read over the certified connection');
  assert.is(readFileSync(caOnly(), 'utf8').split('\n').filter(Boolean).length, 1, 'nothing was added to known_hosts');
});

t('without the @cert-authority line the host is an unknown key; --accept-new-host-keys records its plain key, never the certificate', () => {
  const empty = `${lab.STATE}/known_hosts_empty`;
  writeFileSync(empty, '');
  const r = tprun('check', inventory('no-ca', 1, empty));
  assert.is(r.code, 4, out(r));
  assert.match(r.out, /^h1: FAILED at connect: unknown host key for 198\.18\.1\.1: ssh-ed25519 SHA256:\S+ is not in /m);
  const accepted = tprun('check', inventory('no-ca', 1, empty), '--accept-new-host-keys');
  assert.is(accepted.code, 2, out(accepted));
  const recorded = readFileSync(empty, 'utf8');
  assert.is(
    recorded,
    `198.18.1.1 ${readFileSync(`${hostKey(1)}.pub`, 'utf8')
      .split(' ')
      .slice(0, 2)
      .join(' ')}\n`,
  );
  assert.not.match(recorded, /cert/);
});

t('a host under a @cert-authority line whose sshd has no certificate: its plain key, as before', () => {
  const r = tprun('check', inventory('no-cert', 4, caOnly()));
  assert.is(r.code, 4, out(r));
  assert.match(r.out, /^h4: FAILED at connect: unknown host key for 198\.18\.1\.4: ssh-ed25519 /m);
  const both = `${lab.STATE}/known_hosts_both`;
  writeFileSync(both, readFileSync(caOnly(), 'utf8') + readFileSync(`${lab.STATE}/known_hosts`, 'utf8'));
  const ok = tprun('check', inventory('no-cert', 4, both));
  assert.is(ok.code, 2, out(ok));
});

t('a certificate for another principal, then an expired one: each fails with its reason', () => {
  certify(1, '-5m:+1h', 'cache9.example.net');
  const wrong = tprun('check', inventory('cert', 1, caOnly()));
  assert.is(wrong.code, 4, out(wrong));
  assert.match(
    wrong.out,
    /^h1: FAILED at connect: host certificate of 198\.18\.1\.1 .* is not valid: principal 198\.18\.1\.1 is not in \[cache9\.example\.net\] \(/m,
    out(wrong),
  );
  certify(1, '20200101000000Z:20200102000000Z');
  const expired = tprun('check', inventory('cert', 1, caOnly()));
  assert.is(expired.code, 4, out(expired));
  assert.match(
    expired.out,
    /^h1: FAILED at connect: host certificate of 198\.18\.1\.1 \(key ID "lab h1", serial 0, CA ssh-ed25519 SHA256:\S+\) is not valid: it expired on 2020-01-02T00:00:00Z \(/m,
  );
  certify(1);
  assert.is(tprun('check', inventory('cert', 1, caOnly())).code, 2, 'valid again once re-signed');
});

t('through a jump host known only through @cert-authority to a target known the same way; an expired jump host certificate names the jump host', () => {
  const [a3, a2] = [lab.hostAddr(3), lab.hostAddr(2)];
  // Only h2 reaches h3: its management link moves from the controller's bridge into h2.
  lab.nsExec(lab.CTL, `ip link set m3 netns ${lab.hostNs(2)}`);
  lab.nsExec(lab.hostNs(2), `ip link set m3 up && ip route add ${a3}/32 dev m3`);
  const viaJump = inventory('cert-jump', 3, caOnly(), `jump: root@${a2}`);
  const r = tprun('check', viaJump);
  assert.is(r.code, 2, out(r));
  assert.match(r.out, /^h3: drifted/m);
  certify(2, '20200101000000Z:20200102000000Z');
  const expired = tprun('check', viaJump);
  assert.is(expired.code, 4, out(expired));
  assert.match(
    expired.out,
    /^h3: FAILED at connect: jump host 198\.18\.1\.2: host certificate of 198\.18\.1\.2 .* is not valid: it expired on 2020-01-02T00:00:00Z \(/m,
    out(expired),
  );
});

test.run();
