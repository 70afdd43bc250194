// Proves the FUSE daemon's configuration: defaults for every [fuse] key, unknown keys and contradicting values refused with their key path.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/common/config.js';
import { limits } from '../../../src/common/limits.js';
import { CommonCode } from '../../../src/common/status-code.js';
import { fuseConfigSchema } from '../../../src/fuse/config.js';

const minimal = `
[node]
id = 200

[cluster]
id = "test"
secret_file = "/run/secret"

[mgmtd]
addresses = ["127.0.0.1:8000"]
`;

describe('fuse config', () => {
  it('fills every [fuse] key with its default', () => {
    const config = parseConfig(fuseConfigSchema, minimal, 'fuse.toml');
    expect(config.fuse.allow_other).toBe(true);
    expect(config.fuse.attr_timeout_ms).toBe(limits.fuseAttrTimeoutMsDefault);
    expect(config.fuse.max_write_bytes).toBe(1024 * 1024);
    expect(config.fuse.write_buffer_bytes).toBe(limits.clientWriteBufferBytesPerFileDefault);
    expect(config.fuse.length_report_interval_ms).toBe(limits.clientLengthReportIntervalMsDefault);
    expect(config.fuse.mount_point).toBeUndefined();
    expect(config.fuse.trash_expire_s).toBe(0);
    expect(config.monitor.collector).toEqual([]);
  });

  it('takes a trash expiry in seconds, 0 for off, up to the longest stay', () => {
    const parse = (value: string) =>
      parseConfig(fuseConfigSchema, `${minimal}\n[fuse]\ntrash_expire_s = ${value}\n`, 'f.toml');
    expect(parse('604800').fuse.trash_expire_s).toBe(604_800);
    expect(() => parse('-1')).toThrow(/fuse\.trash_expire_s/);
    expect(() => parse(String(limits.trashExpireSMax + 1))).toThrow(/fuse\.trash_expire_s/);
  });

  it('takes a token file in place of the secret file, and refuses a [cluster] with neither', () => {
    const withToken = minimal.replace('secret_file = "/run/secret"', 'token_file = "/run/fuse.token"');
    const config = parseConfig(fuseConfigSchema, withToken, 'fuse.toml');
    expect(config.cluster.token_file).toBe('/run/fuse.token');
    expect(config.cluster.secret_file).toBeUndefined();
    const neither = minimal.replace('secret_file = "/run/secret"', '');
    expect(() => parseConfig(fuseConfigSchema, neither, 'fuse.toml')).toThrow(/token_file .* or secret_file/);
  });

  it('refuses unknown keys, naming them', () => {
    expect(() => parseConfig(fuseConfigSchema, `${minimal}\n[fuse]\nmount = "/mnt"\n`, 'fuse.toml')).toThrow(
      /fuse\.mount: unknown key/,
    );
  });

  it('refuses a total write buffer smaller than one file may use', () => {
    const text = `${minimal}\n[fuse]\nwrite_buffer_bytes = 33554432\nwrite_buffer_total_bytes = 16777216\n`;
    expect(() => parseConfig(fuseConfigSchema, text, 'fuse.toml')).toThrow(
      expect.objectContaining({
        code: CommonCode.ConfigInvalid,
        message: expect.stringContaining('write_buffer_total_bytes'),
      }),
    );
  });

  it('refuses requests larger than the kernel takes', () => {
    expect(() =>
      parseConfig(fuseConfigSchema, `${minimal}\n[fuse]\nmax_write_bytes = 4194304\n`, 'f.toml'),
    ).toThrow(/fuse\.max_write_bytes/);
  });
});
