// Proves exports match client addresses by network (IPv4, IPv6, IPv4-mapped, "*"), resolve mount paths to the longest allowed export, and squash identities as root_squash and all_squash say.
import { describe, expect, it } from 'vitest';
import { ExportTable, mapCredentials, parseNetwork, type ExportSpec } from '../../../src/nfs/exports.js';

function spec(path: string, clients: string[], extra: Partial<ExportSpec> = {}): ExportSpec {
  return {
    path,
    clients,
    readOnly: false,
    rootSquash: true,
    allSquash: false,
    anonUid: 65534,
    anonGid: 65533,
    ...extra,
  };
}

describe('exports', () => {
  it('parses addresses, networks and "*", and refuses anything else', () => {
    expect(parseNetwork('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseNetwork('127.0.0.1')).toEqual({ address: '127.0.0.1', prefix: 32, family: 'ipv4' });
    expect(parseNetwork('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
    expect(parseNetwork('*')).toBeDefined();
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'host.example', '10.0.0.0/', '10.0.0.0/x', '']) {
      expect(parseNetwork(bad)).toBeUndefined();
    }
  });

  it("allows exactly the addresses inside an export's networks, IPv4-mapped ones included", () => {
    const table = new ExportTable([spec('/', ['127.0.0.1/32', '10.1.0.0/16', 'fd00::/16'])]);
    const entry = table.exports[0]!;
    expect(table.allows(entry, '127.0.0.1')).toBe(true);
    expect(table.allows(entry, '::ffff:127.0.0.1')).toBe(true);
    expect(table.allows(entry, '127.0.0.2')).toBe(false);
    expect(table.allows(entry, '10.1.200.3')).toBe(true);
    expect(table.allows(entry, '10.2.0.1')).toBe(false);
    expect(table.allows(entry, 'fd00:1::5')).toBe(true);
    expect(table.allows(entry, '::1')).toBe(false);
    expect(table.allowsAny('127.0.0.2')).toBe(false);
    const everyone = new ExportTable([spec('/', ['*'])]);
    expect(everyone.allowsAny('192.0.2.7')).toBe(true);
    expect(everyone.allowsAny('2001:db8::1')).toBe(true);
  });

  it('resolves a mount path to the longest export that allows the client', () => {
    const table = new ExportTable([
      spec('/', ['127.0.0.1']),
      spec('/data', ['127.0.0.1', '127.0.0.2']),
      spec('/data/private', ['127.0.0.3']),
    ]);
    expect(table.resolveMount(['data', 'x'], '127.0.0.1')).toMatchObject({
      entry: { path: '/data' },
      rest: ['x'],
    });
    expect(table.resolveMount(['data', 'private'], '127.0.0.1')).toMatchObject({
      entry: { path: '/data' },
      rest: ['private'],
    });
    expect(table.resolveMount(['data', 'private'], '127.0.0.3')).toMatchObject({
      entry: { path: '/data/private' },
      rest: [],
    });
    expect(table.resolveMount([], '127.0.0.2')).toBeUndefined();
    expect(table.resolveMount(['database'], '127.0.0.2')).toBeUndefined();
  });

  it('gives every export a stable non-zero tag from its path alone', () => {
    const first = new ExportTable([spec('/a', ['*']), spec('/b', ['*'])]);
    const second = new ExportTable([spec('/b', ['10.0.0.1']), spec('/a', ['10.0.0.2'])]);
    expect(first.exports[0]!.tag).toBe(second.exports[1]!.tag);
    expect(first.exports[0]!.tag).not.toBe(first.exports[1]!.tag);
    expect(first.withTag(first.exports[1]!.tag)?.path).toBe('/b');
    expect(first.withTag(0)).toBeUndefined();
  });

  it('squashes root (uid and gid 0, in groups too) with root_squash, everyone with all_squash', () => {
    const sys = (uid: number, gid: number, groups: number[]) =>
      ({ flavor: 'sys', sys: { stamp: 0, machineName: 'm', uid, gid, groups } }) as const;
    const squashing = spec('/', ['*']);
    expect(mapCredentials(squashing, sys(0, 0, [0, 5]))).toEqual({ uid: 65534, gid: 65533, groups: [5] });
    expect(mapCredentials(squashing, sys(1000, 100, [100, 7, 7]))).toEqual({
      uid: 1000,
      gid: 100,
      groups: [7],
    });
    const trusting = spec('/', ['*'], { rootSquash: false });
    expect(mapCredentials(trusting, sys(0, 0, [1]))).toEqual({ uid: 0, gid: 0, groups: [1] });
    const everyone = spec('/', ['*'], { allSquash: true, rootSquash: false });
    expect(mapCredentials(everyone, sys(1000, 100, [7]))).toEqual({ uid: 65534, gid: 65533, groups: [] });
    expect(mapCredentials(trusting, { flavor: 'none' })).toEqual({ uid: 65534, gid: 65533, groups: [] });
    expect(mapCredentials(trusting, { flavor: 'other', number: 6 })).toBeUndefined();
  });
});
