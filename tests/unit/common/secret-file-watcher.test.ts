// Proves a process follows its cluster secret file on a timer and on SIGHUP, and keeps what it holds when the file goes bad.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { secretFingerprint } from '../../../src/common/cluster-secrets.js';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { SecretFileWatcher } from '../../../src/common/secret-file-watcher.js';

const oldSecret = 'the-old-cluster-secret-0123456789';
const newSecret = 'the-new-cluster-secret-9876543210';
const intervalMs = limits.clusterSecretCheckIntervalMs;

const dir = mkdtempSync(join(tmpdir(), '3fs-secret-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

const watchers: SecretFileWatcher[] = [];
afterEach(() => {
  for (const watcher of watchers.splice(0)) watcher.stop();
});

function watch(text: string, options: { reloadOnSighup?: boolean } = {}) {
  const path = join(dir, `secret-${files++}`);
  writeFileSync(path, text, { mode: 0o600 });
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const clock = new ManualClock();
  const watcher = new SecretFileWatcher({ path, clock, logger: pino({ level: 'info' }, stream), ...options });
  watchers.push(watcher);
  watcher.start();
  const logged = (pattern: RegExp): LogLine[] => lines.filter((line) => pattern.test(line.msg));
  return { path, clock, watcher, lines, logged };
}

describe('SecretFileWatcher', () => {
  it('holds the file as read at start', () => {
    const { watcher } = watch(`${newSecret}\n${oldSecret}\n`);
    expect(watcher.secrets.current).toBe(newSecret);
    expect(watcher.secrets.accepted).toEqual([newSecret, oldSecret]);
  });

  it('refuses to start on a bad file, saying why', () => {
    const path = join(dir, 'bad-at-start');
    writeFileSync(path, 'short\n');
    expect(
      () => new SecretFileWatcher({ path, clock: new ManualClock(), logger: pino({ level: 'silent' }) }),
    ).toThrow(FsError);
  });

  it('takes a changed file at the next periodic check, and only then', async () => {
    const { path, clock, watcher, logged } = watch(`${oldSecret}\n`);
    writeFileSync(path, `${oldSecret}\n${newSecret}\n`);
    clock.advance(intervalMs - 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(watcher.secrets.accepted).toEqual([oldSecret]);
    clock.advance(1);
    await vi.waitFor(() => expect(watcher.secrets.accepted).toEqual([oldSecret, newSecret]));
    expect(watcher.secrets.current).toBe(oldSecret);
    const [reloaded] = logged(/cluster secrets reloaded/);
    expect(reloaded?.['accepting']).toEqual([secretFingerprint(oldSecret), secretFingerprint(newSecret)]);
    // The swap of step 2: the new secret becomes the one to connect with.
    writeFileSync(path, `${newSecret}\n${oldSecret}\n`);
    await vi.waitFor(async () => {
      clock.advance(intervalMs);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(watcher.secrets.current).toBe(newSecret);
    });
  });

  it('says nothing when the file has not changed', async () => {
    const { watcher, lines } = watch(`${oldSecret}\n`);
    expect(await watcher.check()).toBe('unchanged');
    expect(lines).toEqual([]);
  });

  it('keeps the secrets held when the file becomes invalid, warns once, and follows it once valid again', async () => {
    const { path, watcher, logged } = watch(`${oldSecret}\n${newSecret}\n`);
    writeFileSync(path, `${newSecret}\n\n${oldSecret}\n`);
    for (let check = 0; check < 3; check++) expect(await watcher.check()).toBe('kept');
    expect(watcher.secrets.accepted).toEqual([oldSecret, newSecret]);
    const warnings = logged(/line 2 is empty; keeping the cluster secrets held/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.['connectingWith']).toBe(secretFingerprint(oldSecret));
    writeFileSync(path, `${newSecret}\n${oldSecret}\n`);
    expect(await watcher.check()).toBe('reloaded');
    expect(watcher.secrets.current).toBe(newSecret);
    expect(logged(/valid again/)).toHaveLength(1);
  });

  it('keeps the secrets held when the file disappears', async () => {
    const { path, watcher, logged } = watch(`${oldSecret}\n`);
    rmSync(path);
    expect(await watcher.check()).toBe('kept');
    expect(watcher.secrets.accepted).toEqual([oldSecret]);
    expect(logged(/cannot read cluster secret file/)).toHaveLength(1);
  });

  it('never logs a secret', async () => {
    const { path, watcher, lines } = watch(`${oldSecret}\n`);
    writeFileSync(path, `${newSecret}\n${oldSecret}\n`);
    await watcher.check();
    writeFileSync(path, `${newSecret}\n${newSecret}\n`);
    await watcher.check();
    const text = JSON.stringify(lines);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain(oldSecret);
    expect(text).not.toContain(newSecret);
  });

  it('runs one check at a time: one asked for during another runs once after it', async () => {
    const { path, watcher } = watch(`${oldSecret}\n`);
    writeFileSync(path, `${newSecret}\n`);
    const checks = [watcher.check(), watcher.check(), watcher.check()];
    expect(new Set(checks).size).toBe(1);
    // The first read takes the new secret; the one asked for meanwhile finds it unchanged.
    expect(await checks[0]).toBe('unchanged');
    expect(watcher.secrets.current).toBe(newSecret);
  });

  it('reads the file at once on SIGHUP when asked to, and ignores SIGHUP after stop', async () => {
    const { path, watcher, logged } = watch(`${oldSecret}\n`, { reloadOnSighup: true });
    writeFileSync(path, `${newSecret}\n`);
    process.emit('SIGHUP', 'SIGHUP');
    await vi.waitFor(() => expect(watcher.secrets.current).toBe(newSecret));
    expect(logged(/SIGHUP/)).toHaveLength(1);
    watcher.stop();
    writeFileSync(path, `${oldSecret}\n`);
    process.emit('SIGHUP', 'SIGHUP');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(watcher.secrets.current).toBe(newSecret);
  });

  it('stops checking after stop', async () => {
    const { path, clock, watcher } = watch(`${oldSecret}\n`);
    watcher.stop();
    writeFileSync(path, `${newSecret}\n`);
    clock.advance(intervalMs * 3);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(watcher.secrets.current).toBe(oldSecret);
  });
});
