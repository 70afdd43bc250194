// Proves the S3 gateway's TOML is validated at start-up: defaults fill in, and bad paths, regions, TLS halves and tunables are refused with the key that is wrong; and that the gateway's key cache trusts a key for a bounded time and shares concurrent lookups.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { parseConfig } from '../../../src/common/config.js';
import { limits } from '../../../src/common/limits.js';
import type { S3Key } from '../../../src/meta/protocol/index.js';
import { AccessKeys } from '../../../src/s3/access-keys.js';
import { s3ConfigSchema } from '../../../src/s3/config.js';

const base = `
[node]
id = 400
[cluster]
id = "test"
secret_file = "/run/secret"
[mgmtd]
addresses = ["127.0.0.1:8000"]
`;

function parse(s3: string) {
  return parseConfig(s3ConfigSchema, `${base}\n[s3]\n${s3}`, 's3.toml');
}

describe('s3 gateway config', () => {
  it('fills in defaults', () => {
    const config = parse('');
    expect(config.s3).toMatchObject({
      listen: '0.0.0.0:9000',
      export_root: '/',
      region: 'us-east-1',
      anonymous_read: false,
      file_mode: 0o644,
      directory_mode: 0o755,
    });
    expect(parse('file_mode = 0o600\nexport_root = "/data/s3"').s3).toMatchObject({
      file_mode: 0o600,
      export_root: '/data/s3',
    });
  });

  it('refuses bad values with the key that is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['export_root = "s3"', /s3\.export_root/],
      ['export_root = "/a/../b"', /s3\.export_root/],
      ['region = "US East"', /s3\.region/],
      ['tls_cert_file = "/c.pem"', /s3\.tls_key_file: tls_cert_file and tls_key_file go together/],
      ['listen = "nowhere"', /s3\.listen/],
      ['file_mode = 0o4755', /s3\.file_mode/],
      ['virtual_host_domains = ["Example.COM"]', /s3\.virtual_host_domains\.0/],
      ['squash = true', /s3\.squash: unknown key/],
      ['write_buffer_bytes = 67108864\nwrite_buffer_total_bytes = 33554432', /s3\.write_buffer_total_bytes/],
    ];
    for (const [text, message] of cases) expect(() => parse(text), text).toThrow(message);
  });
});

describe('the access key cache', () => {
  const key: S3Key = {
    accessKeyId: 'AKIDEXAMPLE000000001',
    secretAccessKey: 'a'.repeat(40),
    name: 'alice',
    owner: { kind: 'ids', uid: 1000, gid: 100, groups: [10] },
    createdAtMs: 0,
  };

  it('looks a key up once, shares concurrent lookups, and asks again when its time is up', async () => {
    const clock = new ManualClock(0);
    let fetches = 0;
    const keys = new AccessKeys({
      clock,
      fetch: async (id) => {
        fetches += 1;
        await Promise.resolve();
        return id === key.accessKeyId ? key : undefined;
      },
    });
    const [first, second] = await Promise.all([keys.lookup(key.accessKeyId), keys.lookup(key.accessKeyId)]);
    expect(first?.identity).toEqual({ uid: 1000, gid: 100, groups: [10] });
    expect(second).toBe(first);
    expect(fetches).toBe(1);
    clock.advance(limits.s3KeyCacheMs - 1);
    await keys.lookup(key.accessKeyId);
    expect(fetches).toBe(1);
    clock.advance(1);
    await keys.lookup(key.accessKeyId);
    expect(fetches).toBe(2);
  });

  it('remembers an unknown id briefly and never asks about malformed ones', async () => {
    const clock = new ManualClock(0);
    let fetches = 0;
    const keys = new AccessKeys({ clock, fetch: async () => ((fetches += 1), undefined) });
    expect(await keys.lookup('AKIDUNKNOWN000000001')).toBeUndefined();
    expect(await keys.lookup('AKIDUNKNOWN000000001')).toBeUndefined();
    expect(fetches).toBe(1);
    clock.advance(limits.s3KeyMissCacheMs);
    await keys.lookup('AKIDUNKNOWN000000001');
    expect(fetches).toBe(2);
    expect(await keys.lookup('not-a-key-id')).toBeUndefined();
    expect(fetches).toBe(2);
  });
});
