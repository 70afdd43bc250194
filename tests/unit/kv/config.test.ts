// Proves the [kv] configuration section: defaults, strictness, clear errors, and opening the engine it names.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../../src/common/config.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode } from '../../../src/common/status-code.js';
import { kvSectionSchema, kvSectionSchemaFor, openKvEngine, type KvSection } from '../../../src/kv/index.js';

const fileSchema = z.strictObject({ kv: kvSectionSchema });

function parse(text: string): KvSection {
  return parseConfig(fileSchema, text, 'test.toml').kv;
}

function errorOf(text: string): { code: number; message: string } {
  try {
    parse(text);
  } catch (error) {
    return error as { code: number; message: string };
  }
  throw new Error('expected the configuration to be refused');
}

describe('kvSectionSchema', () => {
  it('reads a sqlite section and defaults synchronous to full', () => {
    const section = parse('[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "/var/lib/3fs/meta.sqlite"\n');
    expect(section).toEqual({
      engine: 'sqlite',
      sqlite: { path: '/var/lib/3fs/meta.sqlite', synchronous: 'full' },
    });
  });

  it('accepts synchronous = "normal"', () => {
    const section = parse(
      '[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a.sqlite"\nsynchronous = "normal"\n',
    );
    expect(section).toMatchObject({ engine: 'sqlite', sqlite: { synchronous: 'normal' } });
  });

  it('reads synchronous = "interval" with its commit interval, which it leaves to the engine when absent', () => {
    const section = parse(
      '[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a.sqlite"\nsynchronous = "interval"\ncommit_interval_ms = 250\n',
    );
    expect(section).toEqual({
      engine: 'sqlite',
      sqlite: { path: 'a.sqlite', synchronous: 'interval', commit_interval_ms: 250 },
    });
    const defaulted = parse('[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a"\nsynchronous = "interval"\n');
    expect(defaulted).toEqual({ engine: 'sqlite', sqlite: { path: 'a', synchronous: 'interval' } });
  });

  it('defaults synchronous to what the service chooses', () => {
    const schema = z.strictObject({ kv: kvSectionSchemaFor({ sqliteSynchronous: 'interval' }) });
    const section = parseConfig(schema, '[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a"\n', 'meta.toml');
    expect(section.kv).toEqual({ engine: 'sqlite', sqlite: { path: 'a', synchronous: 'interval' } });
  });

  it('refuses a commit interval out of bounds, naming it', () => {
    const interval = (value: string): string =>
      errorOf(
        `[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a"\nsynchronous = "interval"\ncommit_interval_ms = ${value}\n`,
      ).message;
    expect(interval('0')).toContain('kv.sqlite.commit_interval_ms');
    expect(interval('3600000')).toContain('kv.sqlite.commit_interval_ms');
    expect(interval('1.5')).toContain('kv.sqlite.commit_interval_ms');
  });

  it('accepts a commit interval beside "full", so that mgmtd and meta may share one section', () => {
    const section = parse('[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a"\ncommit_interval_ms = 500\n');
    expect(section).toEqual({
      engine: 'sqlite',
      sqlite: { path: 'a', synchronous: 'full', commit_interval_ms: 500 },
    });
  });

  it('refuses unknown keys, naming them', () => {
    const top = errorOf('[kv]\nengine = "sqlite"\ncolour = "blue"\n[kv.sqlite]\npath = "a"\n');
    expect(top.code).toBe(CommonCode.ConfigInvalid);
    expect(top.message).toContain('kv.colour: unknown key');
    const nested = errorOf('[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a"\nmode = "x"\n');
    expect(nested.message).toContain('kv.sqlite.mode: unknown key');
  });

  it('refuses an unknown engine, a bad synchronous level and a missing path', () => {
    expect(errorOf('[kv]\nengine = "leveldb"\n').message).toContain('kv.engine');
    expect(
      errorOf('[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "a"\nsynchronous = "off"\n').message,
    ).toContain('kv.sqlite.synchronous');
    expect(errorOf('[kv]\nengine = "sqlite"\n[kv.sqlite]\n').message).toContain('kv.sqlite.path');
  });
});

describe('openKvEngine', () => {
  let directory: string | undefined;
  afterEach(async () => {
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });

  it('creates missing parent directories and opens a working sqlite engine', async () => {
    directory = await mkdtemp(join(tmpdir(), '3fs-kv-config-'));
    const path = join(directory, 'deep', 'er', 'meta.sqlite');
    const engine = await openKvEngine(
      { engine: 'sqlite', sqlite: { path, synchronous: 'normal' } },
      { logger: silentLogger() },
    );
    try {
      expect(engine.name).toBe('sqlite');
      await engine.transact(async (tx) => tx.set(Buffer.from('k'), Buffer.from('v')));
      expect((await engine.read((tx) => tx.get(Buffer.from('k'))))?.toString()).toBe('v');
    } finally {
      await engine.close();
    }
    expect((await stat(path)).isFile()).toBe(true);
  });
});
