// Proves that configuration files fail with every problem named by its full key path and reason.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../../src/common/config.js';
import { FsError } from '../../../src/common/errors.js';
import { CommonCode } from '../../../src/common/status-code.js';

const schema = z.strictObject({
  server: z.strictObject({ port: z.number().int().max(65535), name: z.string() }),
  limits: z.strictObject({ items: z.number().default(3) }).prefault({}),
});

function failure(text: string): FsError {
  try {
    parseConfig(schema, text, 'test.toml');
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('configuration loading', () => {
  it('accepts a valid file and fills defaults', () => {
    expect(parseConfig(schema, '[server]\nport = 80\nname = "a"\n', 'test.toml')).toEqual({
      server: { port: 80, name: 'a' },
      limits: { items: 3 },
    });
  });

  it('names unknown keys with their full path', () => {
    const error = failure('[server]\nport = 80\nname = "a"\nprot = 1\n[limits]\nitemz = 4\n');
    expect(error.code).toBe(CommonCode.ConfigInvalid);
    expect(error.message).toContain('server.prot: unknown key');
    expect(error.message).toContain('limits.itemz: unknown key');
  });

  it('names bad values with their path and reason', () => {
    const error = failure('[server]\nport = 70000\nname = 5\n');
    expect(error.message).toMatch(/server\.port: .*65535/);
    expect(error.message).toMatch(/server\.name: .*string/);
  });

  it('reports TOML syntax errors with the file name', () => {
    expect(failure('[server\nport = 1').message).toMatch(/^test\.toml: not valid TOML/);
  });
});
