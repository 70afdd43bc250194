// Proves the [kv.postgres] section (both ways of naming the server, secrets only from files, strict keys and identifiers) and the mapping of PostgreSQL errors onto KV status codes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../../src/common/config.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, KvCode, statusName } from '../../../src/common/status-code.js';
import { kvSectionSchema, openKvEngine, type KvSection } from '../../../src/kv/index.js';
import { postgresTarget } from '../../../src/kv/postgres-config.js';
import { isConnectionBroken, isServerAnswer, postgresFailure } from '../../../src/kv/postgres-errors.js';
import { writeBatches } from '../../../src/kv/postgres-values.js';

const fileSchema = z.strictObject({ kv: kvSectionSchema });

function parse(text: string): KvSection {
  return parseConfig(fileSchema, text, 'test.toml').kv;
}

function messageOf(text: string): string {
  try {
    parse(text);
  } catch (error) {
    expect((error as FsError).code).toBe(CommonCode.ConfigInvalid);
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

const section = (body: string): string => `[kv]\nengine = "postgres"\n[kv.postgres]\n${body}\n`;

describe('[kv.postgres] configuration', () => {
  it('reads a url and fills in the defaults', () => {
    const parsed = parse(section('url = "postgresql://threefs@db1.example.org:6432/meta"'));
    expect(parsed).toEqual({
      engine: 'postgres',
      postgres: {
        url: 'postgresql://threefs@db1.example.org:6432/meta',
        schema: 'public',
        table: 'threefs_kv',
        pool_size: 10,
        connect_timeout_ms: 5_000,
        statement_timeout_ms: 5_000,
        ssl: 'disable',
      },
    });
    if (parsed.engine !== 'postgres') throw new Error('expected postgres');
    expect(postgresTarget(parsed.postgres)).toEqual({
      host: 'db1.example.org',
      port: 6432,
      user: 'threefs',
      database: 'meta',
    });
  });

  it('reads host, user and database with a password file, a schema and a table of its own', () => {
    const parsed = parse(
      section(
        'host = "/run/postgresql"\nuser = "threefs"\ndatabase = "meta"\npassword_file = "/run/secrets/pg"\nschema = "cluster_a"\ntable = "kv"',
      ),
    );
    if (parsed.engine !== 'postgres') throw new Error('expected postgres');
    expect(postgresTarget(parsed.postgres)).toEqual({
      host: '/run/postgresql',
      port: 5432,
      user: 'threefs',
      database: 'meta',
    });
    expect(parsed.postgres.password_file).toBe('/run/secrets/pg');
    expect(parsed.postgres.schema).toBe('cluster_a');
  });

  it('refuses a password inside the url, pointing at password_file', () => {
    expect(messageOf(section('url = "postgresql://threefs:secret@db1/meta"'))).toMatch(
      /kv\.postgres\.url: holds a password.*password_file/,
    );
  });

  it('refuses url parameters, a url without user or database, and a foreign scheme', () => {
    expect(messageOf(section('url = "postgresql://u@db1/meta?sslmode=require"'))).toContain(
      'kv.postgres.url: has query parameters',
    );
    expect(messageOf(section('url = "postgresql://db1/meta"'))).toContain('kv.postgres.url: names no user');
    expect(messageOf(section('url = "postgresql://u@db1"'))).toContain('kv.postgres.url: names no database');
    expect(messageOf(section('url = "mysql://u@db1/meta"'))).toContain('kv.postgres.url');
  });

  it('refuses both ways of naming the server at once, and neither', () => {
    expect(messageOf(section('url = "postgresql://u@db1/meta"\nhost = "db2"'))).toContain(
      'kv.postgres.host: give either url or host/port/user/database, not both',
    );
    const missing = messageOf(section('host = "db1"'));
    expect(missing).toContain('kv.postgres.user: required unless url is given');
    expect(missing).toContain('kv.postgres.database: required unless url is given');
  });

  it('refuses unknown keys, unsafe identifiers, bad numbers and a CA file without verification', () => {
    expect(messageOf(section('url = "postgresql://u@db1/meta"\npassword = "x"'))).toContain(
      'kv.postgres.password: unknown key',
    );
    expect(messageOf(section('url = "postgresql://u@db1/meta"\ntable = "kv; DROP TABLE x"'))).toContain(
      'kv.postgres.table',
    );
    expect(messageOf(section('url = "postgresql://u@db1/meta"\nschema = "Upper"'))).toContain(
      'kv.postgres.schema',
    );
    expect(messageOf(section('url = "postgresql://u@db1/meta"\npool_size = 0'))).toContain(
      'kv.postgres.pool_size',
    );
    expect(messageOf(section('url = "postgresql://u@db1/meta"\nssl = "prefer"'))).toContain(
      'kv.postgres.ssl',
    );
    expect(messageOf(section('url = "postgresql://u@db1/meta"\nssl_ca_file = "/etc/ca.pem"'))).toContain(
      'kv.postgres.ssl_ca_file: only used with ssl = "verify-full"',
    );
  });
});

describe('opening the postgres engine', () => {
  let directory = '';
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), '3fs-pg-config-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('refuses a password file it cannot read or that is empty, before connecting', async () => {
    const open = (passwordFile: string) =>
      openKvEngine(
        parse(section(`url = "postgresql://u@127.0.0.1:1/meta"\npassword_file = "${passwordFile}"`)),
        {
          logger: silentLogger(),
        },
      );
    const absent = await open(join(directory, 'absent')).catch((error: unknown) => error as FsError);
    expect(absent).toBeInstanceOf(FsError);
    expect((absent as FsError).code).toBe(CommonCode.ConfigInvalid);
    expect((absent as FsError).message).toContain('kv.postgres.password_file');
    const emptyFile = join(directory, 'empty');
    await writeFile(emptyFile, '\n');
    const empty = await open(emptyFile).catch((error: unknown) => error as FsError);
    expect((empty as FsError).message).toContain('is empty');
  });

  it('reports a server that refuses connections as Unavailable, naming where it tried', async () => {
    const error = await openKvEngine(
      parse(section('url = "postgresql://u@127.0.0.1:1/meta"\nconnect_timeout_ms = 500')),
      { logger: silentLogger() },
    ).catch((caught: unknown) => caught as FsError);
    expect(error).toBeInstanceOf(FsError);
    expect(statusName((error as FsError).code)).toBe(statusName(KvCode.Unavailable));
    expect((error as FsError).message).toContain('127.0.0.1:1/meta');
  });
});

function databaseError(code: string): pg.DatabaseError {
  const error = new pg.DatabaseError(`server error ${code}`, 0, 'error');
  error.code = code;
  return error;
}

describe('postgres errors', () => {
  it('makes serialization failures and deadlocks retryable conflicts', () => {
    expect(postgresFailure(databaseError('40001'), 'commit').code).toBe(KvCode.Conflict);
    expect(postgresFailure(databaseError('40P01'), 'commit').code).toBe(KvCode.Conflict);
  });

  it('makes a lost, refused or timed-out connection and a server going away Unavailable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(postgresFailure(refused, 'connect').code).toBe(KvCode.Unavailable);
    expect(postgresFailure(new Error('Connection terminated unexpectedly'), 'read a key').code).toBe(
      KvCode.Unavailable,
    );
    expect(postgresFailure(new Error('timeout exceeded when trying to connect'), 'connect').code).toBe(
      KvCode.Unavailable,
    );
    expect(postgresFailure(databaseError('57P01'), 'commit').code).toBe(KvCode.Unavailable);
    expect(postgresFailure(databaseError('57014'), 'read a range').code).toBe(KvCode.Unavailable);
    expect(postgresFailure(databaseError('08006'), 'commit').code).toBe(KvCode.Unavailable);
  });

  it('reports anything else as EngineFailure with the SQLSTATE', () => {
    const failure = postgresFailure(databaseError('42P01'), 'read a key');
    expect(failure.code).toBe(KvCode.EngineFailure);
    expect(failure.message).toContain('SQLSTATE 42P01');
    expect(failure.message).toContain('read a key');
  });

  it('tells a server answer (outcome known) from a broken connection (outcome unknown)', () => {
    expect(isServerAnswer(databaseError('40001'))).toBe(true);
    expect(isConnectionBroken(databaseError('40001'))).toBe(false);
    expect(isServerAnswer(databaseError('57P01'))).toBe(false);
    expect(isConnectionBroken(databaseError('57P01'))).toBe(true);
    expect(isServerAnswer(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isConnectionBroken(new Error('Connection terminated unexpectedly'))).toBe(true);
  });
});

describe('postgres write batches', () => {
  it('groups upserts and deletes apart, each batch within the row bound', () => {
    const points = Array.from({ length: 2_500 }, (_, index) => ({
      key: Buffer.from(`k${index.toString().padStart(5, '0')}`),
      value: index % 5 === 0 ? undefined : Buffer.from('v'),
    }));
    const batches = [...writeBatches(points)];
    for (const batch of batches) expect(batch.keys.length).toBeLessThanOrEqual(1_000);
    const deletes = batches.filter((batch) => batch.kind === 'delete').flatMap((batch) => batch.keys);
    const upserts = batches.filter((batch) => batch.kind === 'upsert').flatMap((batch) => batch.keys);
    expect(deletes).toHaveLength(500);
    expect(upserts).toHaveLength(2_000);
  });

  it('closes a batch once its bytes reach the bound', () => {
    const points = Array.from({ length: 30 }, (_, index) => ({
      key: Buffer.from([index]),
      value: Buffer.alloc(100_000),
    }));
    const batches = [...writeBatches(points)];
    expect(batches.length).toBe(3);
    expect(batches.map((batch) => batch.keys.length)).toEqual([11, 11, 8]);
  });
});
