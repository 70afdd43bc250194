// Proves `admin secret-rotate status` asks every server node about every secret tried, counts what they said, and only lists clients.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  candidatesFrom,
  collectSecretStatus,
  generateSecret,
  printSecretStatus,
} from '../../../src/admin/commands/secret-rotate.js';
import { parseClusterSecrets, secretFingerprint } from '../../../src/common/cluster-secrets.js';
import type { NodeInfo } from '../../../src/mgmtd/protocol/index.js';
import type { SecretProbe } from '../../../src/rpc/index.js';

const oldSecret = 'the-old-cluster-secret-0123456789';
const newSecret = 'the-new-cluster-secret-9876543210';

const dir = mkdtempSync(join(tmpdir(), '3fs-secret-rotate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function node(
  nodeId: number,
  type: NodeInfo['type'],
  address: string,
  status: NodeInfo['status'] = 'online',
): NodeInfo {
  return { nodeId, type, address, status, hostname: 'h', tags: [], lastHeartbeatMs: 0 };
}

const nodes = [
  node(11, 'storage', 'storage:1'),
  node(1, 'mgmtd', 'mgmtd:1'),
  node(2, 'meta', 'meta:1'),
  node(200, 'fuse', '/mnt/3fs'),
  node(12, 'storage', 'storage:2', 'offline'),
];

/** What each server says: mgmtd and meta swapped already, storage 11 only accepts, storage 12 is gone. */
function fakeProbe(address: string, secret: string): Promise<SecretProbe> {
  if (address === 'storage:2')
    return Promise.resolve({ result: 'unreachable', message: 'connect ECONNREFUSED' });
  const swapped = address === 'mgmtd:1' || address === 'meta:1';
  const current = swapped ? newSecret : oldSecret;
  return Promise.resolve({ result: secret === current ? 'current' : 'accepted' });
}

describe('secret-rotate status', () => {
  it('tries the secrets of every file in order, each once', () => {
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    writeFileSync(first, `${oldSecret}\n${newSecret}\n`);
    writeFileSync(second, `${newSecret}\n`);
    expect(candidatesFrom([first, second])).toEqual([
      { secret: oldSecret, source: `${first} line 1` },
      { secret: newSecret, source: `${first} line 2` },
    ]);
  });

  it('asks the server nodes only, and counts which hold each secret as current or accept it', async () => {
    const asked: string[] = [];
    const report = await collectSecretStatus({
      routing: { nodes },
      candidates: [
        { secret: oldSecret, source: 'f line 1' },
        { secret: newSecret, source: 'f line 2' },
      ],
      probe: (address, secret) => {
        asked.push(address);
        return fakeProbe(address, secret);
      },
    });
    expect(new Set(asked)).toEqual(new Set(['mgmtd:1', 'meta:1', 'storage:1', 'storage:2']));
    expect(asked).toHaveLength(8);
    expect(report.nodes.map((row) => row.nodeId)).toEqual([1, 2, 11, 12]);
    expect(report.clients).toEqual([{ nodeId: 200, type: 'fuse', status: 'online' }]);
    expect(report.secrets).toEqual([
      {
        fingerprint: secretFingerprint(oldSecret),
        source: 'f line 1',
        current: 1,
        accepted: 3,
        refused: 0,
        unreachable: 1,
      },
      {
        fingerprint: secretFingerprint(newSecret),
        source: 'f line 2',
        current: 2,
        accepted: 3,
        refused: 0,
        unreachable: 1,
      },
    ]);
    expect(report.nodes[3]?.secrets[0]).toEqual({
      fingerprint: secretFingerprint(oldSecret),
      result: 'unreachable',
      message: 'connect ECONNREFUSED',
    });
  });

  it('runs no more handshakes at once than allowed', async () => {
    let running = 0;
    let most = 0;
    const many = Array.from({ length: 40 }, (_, index) => node(index + 1, 'storage', `storage:${index}`));
    await collectSecretStatus({
      routing: { nodes: many },
      candidates: [{ secret: oldSecret, source: 'f line 1' }],
      inflightMax: 5,
      probe: async () => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running -= 1;
        return { result: 'current' };
      },
    });
    expect(most).toBe(5);
  });

  it('prints fingerprints and counts, never a secret', async () => {
    const report = await collectSecretStatus({
      routing: { nodes },
      candidates: [
        { secret: oldSecret, source: 'f line 1' },
        { secret: newSecret, source: 'f line 2' },
      ],
      probe: fakeProbe,
    });
    let text = '';
    printSecretStatus({ json: false, write: (chunk) => (text += chunk) }, report);
    expect(text).toContain(`SECRET ${secretFingerprint(newSecret)}`);
    expect(text).toMatch(/current on 2 of 4 server node\(s\), accepted by 3, refused by 0, 1 unreachable/);
    expect(text).toContain('not asked (no cluster RPC server): fuse 200');
    expect(text).not.toContain(oldSecret);
    expect(text).not.toContain(newSecret);
    let json = '';
    printSecretStatus({ json: true, write: (chunk) => (json += chunk) }, report);
    expect(JSON.parse(json)).toEqual(report);
    expect(json).not.toContain(oldSecret);
  });
});

describe('secret-rotate generate', () => {
  it('makes a fresh secret a secret file accepts', () => {
    const secret = generateSecret();
    expect(parseClusterSecrets(`${secret}\n`, 'generated')).toEqual([secret]);
    expect(generateSecret()).not.toBe(secret);
  });
});
