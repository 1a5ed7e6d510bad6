/**
 * A host's package family, for hints that name a package to install: RHEL and its rebuilds (and
 * Fedora) install with dnf, Debian and Ubuntu with apt-get. Read from the kernel release, which
 * every host's facts have: RHEL-family kernels are tagged `.elN` (`5.14.0-427.13.1.el9_4.x86_64`,
 * `6.12.0-55.9.1.el10_0.x86_64`) or `.fcN`; Debian's end in their flavour (`6.1.0-50-amd64`,
 * `6.12.117+deb13-amd64`), Ubuntu's in `-generic` and the like. Anything else is unknown, and a
 * hint then names both.
 */
export type PackageFamily = 'rhel' | 'debian';

export function packageFamily(kernelRelease: string): PackageFamily | null {
  if (/\.(el|fc)\d+(_\d+)?(\.|$)/.test(kernelRelease)) return 'rhel';
  if (/\+deb\d+|-(amd64|arm64|armmp|686|686-pae|rt-amd64|cloud-amd64|cloud-arm64|generic|lowlatency|aws|azure|gcp)$/.test(kernelRelease)) return 'debian';
  return null;
}

/** "dnf install X" on RHEL, "apt-get install Y" on Debian, both (labelled) when the family is unknown. */
export function installCommand(family: PackageFamily | null, pkg: { debian: string; rhel: string }): string {
  if (family === 'rhel') return `dnf install ${pkg.rhel}`;
  if (family === 'debian') return `apt-get install ${pkg.debian}`;
  return `Debian: apt-get install ${pkg.debian}; RHEL: dnf install ${pkg.rhel}`;
}
