// Proves the forwarder's batching: payload-free forwards to one successor in one turn leave as one Storage.forwardBatch with a result each (a failed one failing alone, under its own code), an update with a payload and a lone update go as Storage.forward, a batch that fails whole fails each forward as ForwardFailed, and a successor that knows no batches gets each update alone.
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode, StorageCode } from '../../../src/common/status-code.js';
import type { MethodDef, RpcCaller } from '../../../src/rpc/index.js';
import { Forwarder, type ForwardBody } from '../../../src/storage/craq/forwarder.js';

const reply = (version: number) => ({ exists: true, version, length: 1, checksum: 0 });

function body(index: number): ForwardBody {
  return {
    targetId: 201,
    chainId: 1,
    chainVersion: 1,
    chunkId: { inode: 7n, index },
    chunkSizeBytes: 4096,
    updateVersion: 3,
    fromTargetId: 101,
    op: { kind: 'remove' },
    timeoutMs: 1_000 + index,
  };
}

/** An RpcCaller that records calls and answers with `answer`. */
function recordingRpc(answer: (method: string, request: unknown) => unknown) {
  const calls: Array<{ method: string; request: unknown; timeoutMs: number | undefined }> = [];
  const rpc = {
    call: async (
      _address: string,
      method: MethodDef<unknown, unknown>,
      request: unknown,
      options?: { timeoutMs?: number },
    ) => {
      calls.push({ method: method.name, request, timeoutMs: options?.timeoutMs });
      return answer(method.name, request);
    },
  } as unknown as RpcCaller;
  return { rpc, calls };
}

describe('Forwarder', () => {
  it('sends the payload-free forwards of one turn as one batch, each settled by its own result', async () => {
    const { rpc, calls } = recordingRpc(() => ({
      results: [
        { ok: true, reply: reply(3) },
        { ok: false, code: StorageCode.ChunkVersionMismatch, message: 'behind' },
        { ok: true, reply: reply(4) },
      ],
    }));
    const forwarder = new Forwarder(rpc);
    const outcomes = await Promise.allSettled(
      [0, 1, 2].map((index) => forwarder.forward({ address: 'a:1', body: body(index), payload: undefined })),
    );
    expect(calls.map((call) => call.method)).toEqual(['Storage.forwardBatch']);
    expect((calls[0]?.request as { updates: ForwardBody[] }).updates).toEqual([body(0), body(1), body(2)]);
    // The batch waits as long as its longest deadline allows.
    expect(calls[0]?.timeoutMs).toBeGreaterThan(1_002);
    expect(outcomes[0]).toEqual({ status: 'fulfilled', value: reply(3) });
    expect(outcomes[1]).toMatchObject({
      status: 'rejected',
      reason: { code: StorageCode.ChunkVersionMismatch },
    });
    expect(outcomes[2]).toEqual({ status: 'fulfilled', value: reply(4) });
  });

  it('sends a lone update and one with a payload as Storage.forward', async () => {
    const { rpc, calls } = recordingRpc(() => reply(3));
    const forwarder = new Forwarder(rpc);
    const data = Buffer.from('x');
    await Promise.all([
      forwarder.forward({ address: 'a:1', body: body(0), payload: undefined }),
      forwarder.forward({
        address: 'b:1',
        body: { ...body(1), op: { kind: 'write', offset: 0, length: 1, checksum: 0 } },
        payload: data,
      }),
    ]);
    expect(calls.map((call) => call.method).sort()).toEqual(['Storage.forward', 'Storage.forward']);
  });

  it('fails every forward of a batch that failed whole as ForwardFailed', async () => {
    const { rpc } = recordingRpc(() => {
      throw new FsError(RpcCode.ConnectionClosed, 'gone');
    });
    const forwarder = new Forwarder(rpc);
    const outcomes = await Promise.allSettled(
      [0, 1].map((index) => forwarder.forward({ address: 'a:1', body: body(index), payload: undefined })),
    );
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: StorageCode.ForwardFailed } });
    }
  });

  it('sends each update alone to a successor that knows no batches', async () => {
    const { rpc, calls } = recordingRpc((method) => {
      if (method === 'Storage.forwardBatch') throw new FsError(RpcCode.UnknownMethod, 'unknown method');
      return reply(3);
    });
    const forwarder = new Forwarder(rpc);
    const replies = await Promise.all(
      [0, 1].map((index) => forwarder.forward({ address: 'a:1', body: body(index), payload: undefined })),
    );
    expect(replies).toEqual([reply(3), reply(3)]);
    expect(calls.map((call) => call.method)).toEqual([
      'Storage.forwardBatch',
      'Storage.forward',
      'Storage.forward',
    ]);
  });
});
