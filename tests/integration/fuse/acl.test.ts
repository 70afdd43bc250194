// Proves POSIX ACLs through a real mount with getfacl and setfacl: ACLs round-trip and set the
// mode (seen at once by stat despite the metadata cache), chmod changes the mask, a directory's
// default ACL is inherited by new files and directories in place of the umask (the kernel passes
// modes unmasked), and the kernel and meta enforce named-user entries under the mask for a
// non-root user, on this mount and, after the change log's bound, on a second one.
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import { skipWithout } from '../../helpers/requirements.js';
import { nobody, run, sh, type RunResult } from '../fuse-binding/harness.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, isRoot, startFuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld } from '../helpers/processes.js';

function aclToolsMissing(): string | undefined {
  for (const tool of ['getfacl', 'setfacl']) {
    if (spawnSync(tool, ['--version'], { timeout: 5_000 }).status !== 0) {
      return `${tool} is missing (install the acl package)`;
    }
  }
  return undefined;
}

const skipReason =
  fuseClusterSkipReason('POSIX ACL mount tests') ??
  (skipWithout('getfacl and setfacl (for the POSIX ACL mount tests)', aclToolsMissing())
    ? 'no acl tools'
    : undefined);
/** Acting as another user needs root. */
const asRoot = isRoot ? it : it.skip;

function succeeded(result: RunResult): RunResult {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result;
}

async function setfacl(...args: string[]): Promise<void> {
  succeeded(await run('setfacl', args));
}

/** The entries getfacl prints (numeric ids, no header, no effective-rights comments). */
async function getfacl(path: string, ...options: string[]): Promise<string[]> {
  const result = succeeded(
    await run('getfacl', [
      '--omit-header',
      '--absolute-names',
      '--numeric',
      '--no-effective',
      ...options,
      path,
    ]),
  );
  return result.stdout.split('\n').filter((line) => line !== '');
}

async function permissionBits(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

/** Reads `path` as nobody: its contents, or the error cat printed. */
async function readAsNobody(path: string): Promise<{ ok: boolean; stderr: string; stdout: string }> {
  const result = await run('cat', [path], { user: nobody });
  return { ok: result.code === 0, stderr: result.stderr, stdout: result.stdout };
}

describe.skipIf(skipReason !== undefined)('POSIX ACLs through the mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let mnt: string;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    mnt = cluster.mountPoint;
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('round-trips an ACL through setfacl and getfacl, with the mode following it at once', async () => {
    const file = join(mnt, 'roundtrip');
    await writeFile(file, 'data', { mode: 0o640 });
    await chmod(file, 0o640);
    // Cached before the change: stat right after setfacl must not see the old mode.
    expect(await permissionBits(file)).toBe(0o640);
    await setfacl('-m', 'u:65534:r,g:65534:rw', file);
    expect(await getfacl(file)).toEqual([
      'user::rw-',
      'user:65534:r--',
      'group::r--',
      'group:65534:rw-',
      'mask::rw-',
      'other::---',
    ]);
    expect(await permissionBits(file)).toBe(0o660);
    // An ACL equivalent to a mode is just the mode: -b keeps the group entry, not the mask.
    await setfacl('-b', file);
    expect(await getfacl(file)).toEqual(['user::rw-', 'group::r--', 'other::---']);
    expect(await permissionBits(file)).toBe(0o640);
    const listed = succeeded(
      await run('python3', ['-c', 'import os, sys; print(os.listxattr(sys.argv[1]))', file]),
    );
    expect(listed.stdout.trim()).toBe('[]');
  });

  it('changes the mask with chmod, and the mode with a mask set by setfacl', async () => {
    const file = join(mnt, 'mask');
    await writeFile(file, 'data', { mode: 0o644 });
    await setfacl('-m', 'u:65534:rwx', file);
    expect(await permissionBits(file)).toBe(0o674);
    await chmod(file, 0o604);
    expect(await getfacl(file)).toEqual([
      'user::rw-',
      'user:65534:rwx',
      'group::r--',
      'mask::---',
      'other::r--',
    ]);
    await setfacl('-m', 'm::r', file);
    expect(await permissionBits(file)).toBe(0o644);
  });

  it('gives new files and directories the default ACL of their directory instead of the umask', async () => {
    const directory = join(mnt, 'inherit');
    await mkdir(directory, { mode: 0o755 });
    await setfacl('-d', '-m', 'u:65534:rwx,g::r-x,o::-', directory);
    const defaults = [
      'default:user::rwx',
      'default:user:65534:rwx',
      'default:group::r-x',
      'default:mask::rwx',
      'default:other::---',
    ];
    expect(await getfacl(directory, '--default')).toEqual(
      defaults.map((line) => line.slice('default:'.length)),
    );
    // umask 077 would leave 0600 and 0700; the default ACL replaces it.
    succeeded(await sh(`umask 077 && touch ${directory}/f && mkdir ${directory}/sub`));
    expect(await permissionBits(join(directory, 'f'))).toBe(0o660);
    expect(await getfacl(join(directory, 'f'))).toEqual([
      'user::rw-',
      'user:65534:rwx',
      'group::r-x',
      'mask::rw-',
      'other::---',
    ]);
    expect(await permissionBits(join(directory, 'sub'))).toBe(0o770);
    expect(await getfacl(join(directory, 'sub'))).toEqual([
      'user::rwx',
      'user:65534:rwx',
      'group::r-x',
      'mask::rwx',
      'other::---',
      ...defaults,
    ]);
    // Without a default ACL the umask applies, as before.
    succeeded(await sh(`umask 027 && touch ${mnt}/plain && mkdir ${mnt}/plain-dir`));
    expect(await permissionBits(join(mnt, 'plain'))).toBe(0o640);
    expect(await permissionBits(join(mnt, 'plain-dir'))).toBe(0o750);
  });

  asRoot('lets a named user read what the mode refuses, and a restrictive mask take it back', async () => {
    const file = join(mnt, 'secret');
    await writeFile(file, 'for nobody', { mode: 0o600 });
    await chmod(file, 0o600);
    expect((await readAsNobody(file)).stderr).toContain('Permission denied');
    await setfacl('-m', 'u:65534:r', file);
    expect(await readAsNobody(file)).toEqual({ ok: true, stderr: '', stdout: 'for nobody' });
    await setfacl('-m', 'm::-', file);
    expect((await readAsNobody(file)).stderr).toContain('Permission denied');
    // Only the owner may change ACLs.
    const refused = await run('setfacl', ['-m', 'm::rwx', file], { user: nobody });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('Operation not permitted');
    // An owner outside the file's group loses setgid by setting an ACL, as on Linux.
    const owned = join(mnt, 'owned-by-nobody');
    await writeFile(owned, '', { mode: 0o644 });
    await chown(owned, nobody.uid, 0);
    await chmod(owned, 0o2755);
    succeeded(await run('setfacl', ['-m', 'u:0:r', owned], { user: nobody }));
    expect(await permissionBits(owned)).toBe(0o755);
    // A named-user entry on a directory grants search.
    const directory = join(mnt, 'private');
    await mkdir(directory, { mode: 0o700 });
    await writeFile(join(directory, 'inside'), 'inside', { mode: 0o644 });
    expect((await readAsNobody(join(directory, 'inside'))).ok).toBe(false);
    await setfacl('-m', 'u:65534:x', directory);
    expect((await readAsNobody(join(directory, 'inside'))).stdout).toBe('inside');
  });

  // The kernel parses the value before it reaches the daemon, and answers a wrong version with
  // EOPNOTSUPP as on every Linux file system; meta's own checks answer EINVAL (unit tests).
  it('refuses malformed ACL values with EINVAL', async () => {
    const file = join(mnt, 'malformed');
    await writeFile(file, '');
    const program = [
      'import errno, os, sys',
      'out = []',
      'for value in [b"\\x02\\x00", b"\\x03\\x00\\x00\\x00", b"\\x02\\x00\\x00\\x00" + b"\\x02\\x00\\x04\\x00\\x05\\x00\\x00\\x00"]:',
      '    try:',
      '        os.setxattr(sys.argv[1], "system.posix_acl_access", value)',
      '        out.append("ok")',
      '    except OSError as error:',
      '        out.append(errno.errorcode[error.errno])',
      'print(",".join(out))',
    ].join('\n');
    const result = succeeded(await run('python3', ['-c', program, file]));
    expect(result.stdout.trim()).toBe('EINVAL,ENOTSUP,EINVAL');
  });

  asRoot(
    'shows an ACL set on one mount to a second mount within the change-log bound',
    async () => {
      const other = await cluster!.mountAnother();
      const file = 'shared-secret';
      await writeFile(join(mnt, file), 'shared', { mode: 0o600 });
      await chmod(join(mnt, file), 0o600);
      // The second mount's kernel caches the refusal's ACL-less attributes first.
      expect((await readAsNobody(join(other, file))).ok).toBe(false);
      await setfacl('-m', 'u:65534:r', join(mnt, file));
      const started = performance.now();
      for (;;) {
        if ((await readAsNobody(join(other, file))).ok) break;
        expect(performance.now() - started).toBeLessThan(limits.fuseMetadataPollStaleMs + 5_000);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await setfacl('-x', 'u:65534', join(mnt, file));
      const revoked = performance.now();
      for (;;) {
        if (!(await readAsNobody(join(other, file))).ok) break;
        expect(performance.now() - revoked).toBeLessThan(limits.fuseMetadataPollStaleMs + 5_000);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    30_000,
  );
});
