// Proves that every default configuration shipped in etc/ (installed as etc/3fs by the package)
// is accepted by its service's own validator, so a fresh install starts.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { loadConfig, parseConfig } from '../../../src/common/config.js';
import { adminConfigSchema } from '../../../src/admin/admin-config.js';
import { mgmtdConfigSchema } from '../../../src/mgmtd/config.js';
import { metaConfigSchema } from '../../../src/meta/config.js';
import { storageConfigSchema } from '../../../src/storage/config.js';
import { fuseConfigSchema } from '../../../src/fuse/config.js';
import { collectorConfigSchema } from '../../../src/monitor/config.js';
import { nfsConfigSchema } from '../../../src/nfs/config.js';
import { s3ConfigSchema } from '../../../src/s3/config.js';

const etc = resolve(import.meta.dirname, '../../../etc');

const schemas: Record<string, z.ZodType> = {
  'admin.toml': adminConfigSchema,
  'mgmtd.toml': mgmtdConfigSchema,
  'meta.toml': metaConfigSchema,
  'storage.toml': storageConfigSchema,
  'monitor.toml': collectorConfigSchema,
  'fuse.toml': fuseConfigSchema,
  'nfs.toml': nfsConfigSchema,
  's3.toml': s3ConfigSchema,
};

describe('the default configuration files', () => {
  it('has a validator for every shipped file', () => {
    for (const file of readdirSync(etc).filter((name) => name.endsWith('.toml'))) {
      expect(Object.keys(schemas), `validator for ${file}`).toContain(file);
    }
  });

  for (const [file, schema] of Object.entries(schemas)) {
    it(`accepts etc/${file}`, () => {
      expect(() => loadConfig(schema, join(etc, file))).not.toThrow();
    });
  }
});

describe('the README', () => {
  it('shows a mgmtd configuration that mgmtd accepts', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');
    const example = /cat > \/etc\/3fs\/mgmtd\.toml <<'TOML'\n([\s\S]*?)\nTOML\n/.exec(readme)?.[1];
    expect(example, 'the README has a mgmtd.toml example').toBeDefined();
    expect(() => parseConfig(mgmtdConfigSchema, example ?? '', 'README mgmtd.toml')).not.toThrow();
  });
});
