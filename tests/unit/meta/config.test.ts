// Proves meta_main's configuration schema: defaults for [meta] and [log], and clear errors that
// name bad keys and values.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/common/config.js';
import { FsError } from '../../../src/common/errors.js';
import { metaConfigSchema } from '../../../src/meta/config.js';

const base = `
[node]
id = 3
listen = "127.0.0.1:0"
[cluster]
id = "c1"
secret_file = "/etc/3fs/secret"
[kv]
engine = "sqlite"
[kv.sqlite]
path = "/var/lib/3fs/meta.db"
[mgmtd]
addresses = ["10.0.0.1:9000"]
`;

describe('the meta configuration', () => {
  it('fills in defaults for [meta] and [log]', () => {
    const config = parseConfig(metaConfigSchema, base, 'meta.toml');
    expect(config.meta).toEqual({
      root_squash: false,
      squash_uid: 65534,
      squash_gid: 65534,
      inode_id_batch: 256,
      gc: { enabled: true, interval_ms: 5_000, concurrency: 4 },
      trash: { cleaner: true, cleaner_interval_ms: 60_000 },
    });
    expect(config.log.level).toBe('info');
    expect(config.mgmtd.heartbeat_interval_ms).toBe(1000);
  });

  it('commits sqlite metadata with a commit interval unless told otherwise', () => {
    expect(parseConfig(metaConfigSchema, base, 'meta.toml').kv).toEqual({
      engine: 'sqlite',
      sqlite: { path: '/var/lib/3fs/meta.db', synchronous: 'interval' },
    });
    const full = parseConfig(
      metaConfigSchema,
      base.replace('[mgmtd]', 'synchronous = "full"\n[mgmtd]'),
      'meta.toml',
    );
    expect(full.kv).toMatchObject({ sqlite: { synchronous: 'full' } });
  });

  it('reads the GC worker settings', () => {
    const config = parseConfig(
      metaConfigSchema,
      `${base}[meta.gc]\ninterval_ms = 250\nconcurrency = 2\n`,
      'meta.toml',
    );
    expect(config.meta.gc).toEqual({ enabled: true, interval_ms: 250, concurrency: 2 });
  });

  it('reads root squash settings', () => {
    const config = parseConfig(
      metaConfigSchema,
      `${base}[meta]\nroot_squash = true\nsquash_uid = 99\nsquash_gid = 98\n`,
      'meta.toml',
    );
    expect(config.meta).toMatchObject({ root_squash: true, squash_uid: 99, squash_gid: 98 });
  });

  it('names unknown keys and bad values', () => {
    expect(() => parseConfig(metaConfigSchema, `${base}[meta]\nroot_squahs = true\n`, 'meta.toml')).toThrow(
      /meta\.root_squahs: unknown key/,
    );
    expect(() => parseConfig(metaConfigSchema, `${base}[meta]\ninode_id_batch = 0\n`, 'meta.toml')).toThrow(
      FsError,
    );
    expect(() =>
      parseConfig(metaConfigSchema, `${base}[meta.gc]\ninterval_ms = 1\nconcurency = 2\n`, 'meta.toml'),
    ).toThrow(/meta\.gc\.interval_ms[\s\S]*meta\.gc\.concurency: unknown key/);
    expect(() => parseConfig(metaConfigSchema, base.replace(/\[mgmtd\][^[]*/, ''), 'meta.toml')).toThrow(
      /mgmtd/,
    );
  });
});
