// Proves the cache of read handles reuses one handle per path, stays within its bound, closes a
// dropped handle only after the reads holding it are done, and opens a path anew after a drop.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadHandles } from '../../../src/storage/store/read-handles.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), '3fs-read-handles-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function readWith(handles: ReadHandles, path: string): Promise<string> {
  const { handle, release } = await handles.acquire(path);
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString();
  } finally {
    release();
  }
}

describe('read handles', () => {
  it('lends the same handle for every read of a path', async () => {
    const handles = new ReadHandles(4);
    const path = file('a', 'alpha');
    const first = await handles.acquire(path);
    const second = await handles.acquire(path);
    expect(second.handle).toBe(first.handle);
    first.release();
    second.release();
    expect(handles.size).toBe(1);
    handles.dropAll();
  });

  it('keeps at most its bound, dropping the least recently used path first', async () => {
    const handles = new ReadHandles(2);
    const [a, b, c] = [file('a', 'A'), file('b', 'B'), file('c', 'C')];
    const lentA = await handles.acquire(a);
    lentA.release();
    await readWith(handles, b);
    await readWith(handles, a);
    await readWith(handles, c);
    expect(handles.size).toBe(2);
    // b was used least recently: it was dropped, and its handle closed.
    expect((await handles.acquire(a)).handle).toBe(lentA.handle);
    handles.dropAll();
  });

  it('closes a dropped handle only once the read holding it is done', async () => {
    const handles = new ReadHandles(4);
    const path = file('a', 'held');
    const lent = await handles.acquire(path);
    handles.drop(path);
    const buffer = Buffer.alloc(4);
    await lent.handle.read(buffer, 0, 4, 0);
    expect(buffer.toString()).toBe('held');
    lent.release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await expect(lent.handle.read(buffer, 0, 4, 0)).rejects.toThrow();
    expect(() => lent.release()).toThrow();
  });

  it('opens a path anew after a drop, and reports a missing file as open does', async () => {
    const handles = new ReadHandles(4);
    const path = file('a', 'old');
    expect(await readWith(handles, path)).toBe('old');
    unlinkSync(path);
    handles.drop(path);
    await expect(handles.acquire(path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(handles.size).toBe(0);
    file('a', 'new');
    expect(await readWith(handles, path)).toBe('new');
    handles.dropAll();
  });
});
