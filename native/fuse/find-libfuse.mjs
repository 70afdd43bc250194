// Asks pkg-config for libfuse 3's compiler and linker flags on behalf of binding.gyp. When libfuse 3's
// development files (or pkg-config itself) are missing, the build stops here with a message that
// names the package to install, instead of a compiler error about a missing header.
import { execFileSync } from 'node:child_process';

const minimumVersion = '3.10';
const flag = process.argv[2];
if (flag !== '--cflags' && flag !== '--libs') {
  console.error('usage: node find-libfuse.mjs --cflags|--libs');
  process.exit(2);
}

function fail(reason) {
  console.error(
    [
      `native/fuse: ${reason}`,
      `The FUSE binding needs libfuse >= ${minimumVersion} development files and pkg-config:`,
      '  Debian/Ubuntu: apt-get install -y libfuse3-dev fuse3 pkg-config',
      '  Fedora/RHEL:   dnf install -y fuse3-devel fuse3 pkgconf-pkg-config',
      '  nixpkgs:       add fuse3 and pkg-config to nativeBuildInputs/buildInputs (or nix-shell -p fuse3 pkg-config)',
    ].join('\n'),
  );
  process.exit(1);
}

function pkgConfig(args) {
  try {
    return execFileSync('pkg-config', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    if (error.code === 'ENOENT') fail('pkg-config is not installed.');
    return undefined;
  }
}

if (pkgConfig(['--exists', 'fuse3']) === undefined) fail('pkg-config cannot find fuse3 (libfuse 3).');
if (pkgConfig([`--atleast-version=${minimumVersion}`, 'fuse3']) === undefined) {
  fail(`libfuse ${pkgConfig(['--modversion', 'fuse3'])} is too old.`);
}
console.log(pkgConfig([flag, 'fuse3']));
