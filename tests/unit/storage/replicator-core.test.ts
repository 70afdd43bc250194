// Proves the CRAQ decisions of replicator-core.ts on their own, event by event: a stale chain
// version is refused before anything is locked, a write is written locally and forwarded at once
// and committed only after the successor replied, an update left pending is settled (sent whole,
// then committed) before the next write, a local write that failed after its forward makes the
// next write numbered past it and whole, a successor that reports other bytes under the version
// being committed is a broken invariant, a forwarded update is judged by its version, and the
// background settling re-arms its timer.
import { describe, expect, it } from 'vitest';
import { AssertionError, FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo, PublicState } from '../../../src/mgmtd/protocol/index.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';
import { ReplicatorCore } from '../../../src/storage/craq/replicator-core.js';
import type { ReplicatorAction, ReplicatorOutput } from '../../../src/storage/craq/replicator-events.js';
import type { ChunkInfo, PendingVersionInfo } from '../../../src/storage/store/chunk-store.js';

const chunkId: ChunkId = { inode: 7n, index: 0 };
const chunkSizeBytes = 4096;

/** A view the test edits: chain 1 of targets 1 (the head here) and 2, and target 1's chunk. */
class FakeWorld {
  nowMs = 1_000;
  chainVersion = 3;
  states: PublicState[] = ['serving', 'serving'];
  chunk: { -readonly [K in keyof ChunkInfo]: ChunkInfo[K] } | undefined;

  chain(): ChainInfo {
    return {
      chainId: 1,
      chainVersion: this.chainVersion,
      targets: this.states.map((publicState, index) => ({ targetId: index + 1, publicState })),
    } as ChainInfo;
  }

  core(): ReplicatorCore {
    return new ReplicatorCore({
      logger: silentLogger(),
      chunkSizeMaxBytes: chunkSizeBytes,
      view: {
        nowMs: () => this.nowMs,
        chain: (id) => (id === 1 ? this.chain() : undefined),
        addressOfTarget: (targetId) => `node-${targetId}`,
        checkTarget: (targetId) => {
          if (targetId !== 1 && targetId !== 2) throw new FsError(StorageCode.TargetNotFound, 'not here');
        },
        chunk: () => this.chunk,
      },
    });
  }

  /** What the store would do for a prepare or commit, applied to the fake chunk. */
  apply(action: ReplicatorAction): unknown {
    if (action.kind === 'prepare') {
      const length = action.update.kind === 'write' ? action.update.offset + action.update.data.length : 0;
      const pending: PendingVersionInfo = {
        version: action.version,
        chainVersion: action.chainVersion,
        length,
        checksum: length,
        removed: action.update.kind === 'remove',
      };
      this.chunk = { chunkId, committed: this.chunk?.committed, pending };
      return pending;
    }
    if (action.kind === 'commit') {
      const pending = this.chunk?.pending;
      expect(pending?.version).toBe(action.version);
      this.chunk = { chunkId, committed: pending, pending: undefined };
      return pending;
    }
    return undefined;
  }
}

function write(version = 3, data = 'abcd') {
  const payload = Buffer.from(data);
  return {
    kind: 'request' as const,
    requestId: 1,
    request: {
      kind: 'client-update' as const,
      request: {
        targetId: 1,
        chainId: 1,
        chainVersion: version,
        chunkId,
        chunkSizeBytes,
        timeoutMs: 5_000,
        op: { kind: 'write' as const, offset: 0, length: payload.length, checksum: 0 },
      },
      payload,
      payloadCrc32c: 0,
    },
  };
}

function kinds(outputs: readonly ReplicatorOutput[]): string[] {
  return outputs.map((output) => output.action.kind);
}

function find(outputs: readonly ReplicatorOutput[], kind: ReplicatorAction['kind']): ReplicatorOutput {
  const output = outputs.find((candidate) => candidate.action.kind === kind);
  expect(output, `an action ${kind} among ${kinds(outputs).join(', ')}`).toBeDefined();
  return output as ReplicatorOutput;
}

function ok(actionId: number, value?: unknown) {
  return { kind: 'done' as const, actionId, outcome: { ok: true as const, value } };
}

function failed(actionId: number, error: unknown) {
  return { kind: 'done' as const, actionId, outcome: { ok: false as const, error } };
}

function replyOf(outputs: readonly ReplicatorOutput[]) {
  const reply = find(outputs, 'reply').action;
  expect(reply.kind).toBe('reply');
  return (reply as Extract<ReplicatorAction, { kind: 'reply' }>).outcome;
}

/** Runs a write through lock, prepare and forward; returns the outputs after both ended. */
function lockPrepareForward(
  world: FakeWorld,
  core: ReplicatorCore,
  outcomes: { prepare: 'ok' | Error; forward: 'ok' | Error },
): ReplicatorOutput[] {
  const lock = find(core.handle(write()), 'lock');
  const started = core.handle(ok(lock.id, lock.id));
  expect(kinds(started)).toEqual(['prepare', 'forward']);
  const prepare = find(started, 'prepare');
  const forward = find(started, 'forward');
  const afterPrepare =
    outcomes.prepare === 'ok'
      ? core.handle(ok(prepare.id, world.apply(prepare.action)))
      : core.handle(failed(prepare.id, outcomes.prepare));
  expect(kinds(afterPrepare)).not.toContain('commit');
  const body = forward.action.kind === 'forward' ? forward.action.body : undefined;
  return outcomes.forward === 'ok'
    ? core.handle(ok(forward.id, { exists: true, version: body?.updateVersion, length: 4, checksum: 4 }))
    : core.handle(failed(forward.id, outcomes.forward));
}

describe('the replicator core', () => {
  it('refuses a write with a stale chain version before it locks anything', () => {
    const world = new FakeWorld();
    const outputs = world.core().handle(write(2));
    expect(kinds(outputs)).toEqual(['reply']);
    const outcome = replyOf(outputs);
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && (outcome.error as FsError).code).toBe(StorageCode.ChainVersionMismatch);
  });

  it('refreshes routing info once for a newer chain version, then judges by what it holds', () => {
    const world = new FakeWorld();
    const core = world.core();
    const refresh = find(core.handle(write(4)), 'refresh-routing');
    world.chainVersion = 4;
    expect(kinds(core.handle(ok(refresh.id)))).toEqual(['lock']);
  });

  it('writes locally and forwards at once, and commits only after the successor replied', () => {
    const world = new FakeWorld();
    const core = world.core();
    const afterForward = lockPrepareForward(world, core, { prepare: 'ok', forward: 'ok' });
    const commit = find(afterForward, 'commit');
    expect(commit.action).toMatchObject({ kind: 'commit', version: 1 });
    const done = core.handle(ok(commit.id, world.apply(commit.action)));
    expect(kinds(done)).toEqual(['unlock', 'reply']);
    expect(replyOf(done)).toEqual({ ok: true, value: { exists: true, version: 1, length: 4, checksum: 4 } });
  });

  it('keeps the pending version when the forward fails, and settles it before the next write', () => {
    const world = new FakeWorld();
    const core = world.core();
    const failedForward = lockPrepareForward(world, core, {
      prepare: 'ok',
      forward: new FsError(StorageCode.ForwardFailed, 'lost'),
    });
    expect(kinds(failedForward)).toEqual(['unlock', 'reply']);
    expect(core.unsettledCount()).toBe(1);
    const next = { ...write(), requestId: 2 };
    const lock = find(core.handle(next), 'lock');
    // The pending version 1 goes whole to the successor first.
    const read = find(core.handle(ok(lock.id, lock.id)), 'read');
    expect(read.action).toMatchObject({ pending: true, length: 4 });
    const forward = find(core.handle(ok(read.id, { data: Buffer.from('abcd'), checksum: 4 })), 'forward');
    expect(forward.action).toMatchObject({ body: { updateVersion: 1, op: { kind: 'replace' } } });
    const commit = find(
      core.handle(ok(forward.id, { exists: true, version: 1, length: 4, checksum: 4 })),
      'commit',
    );
    expect(commit.action).toMatchObject({ version: 1 });
    const after = core.handle(ok(commit.id, world.apply(commit.action)));
    expect(kinds(after)).toEqual(['prepare', 'forward']);
    expect(find(after, 'prepare').action).toMatchObject({ version: 2 });
  });

  it('numbers the next write past a version the successor holds that the local write failed to make, and sends it whole', () => {
    const world = new FakeWorld();
    const core = world.core();
    const failedLocal = lockPrepareForward(world, core, {
      prepare: new FsError(StorageCode.NoSpace, 'full'),
      forward: 'ok',
    });
    const outcome = replyOf(failedLocal);
    expect(!outcome.ok && (outcome.error as FsError).code).toBe(StorageCode.NoSpace);
    expect(core.successorAheadCount()).toBe(1);
    const lock = find(core.handle({ ...write(), requestId: 2 }), 'lock');
    const started = core.handle(ok(lock.id, lock.id));
    // The whole chunk waits for the local write, so only the prepare goes out first.
    expect(kinds(started)).toEqual(['prepare']);
    expect(find(started, 'prepare').action).toMatchObject({ version: 2 });
    const prepare = find(started, 'prepare');
    const read = find(core.handle(ok(prepare.id, world.apply(prepare.action))), 'read');
    const forward = find(core.handle(ok(read.id, { data: Buffer.from('abcd'), checksum: 4 })), 'forward');
    expect(forward.action).toMatchObject({ body: { updateVersion: 2, op: { kind: 'replace' } } });
  });

  it('stops with a broken invariant when the successor holds other bytes under the version committed', () => {
    const world = new FakeWorld();
    const core = world.core();
    const lock = find(core.handle(write()), 'lock');
    const started = core.handle(ok(lock.id, lock.id));
    const prepare = find(started, 'prepare');
    core.handle(ok(prepare.id, world.apply(prepare.action)));
    const outputs = core.handle(
      ok(find(started, 'forward').id, { exists: true, version: 1, length: 4, checksum: 99 }),
    );
    expect(kinds(outputs)).not.toContain('commit');
    const outcome = replyOf(outputs);
    expect(!outcome.ok && outcome.error).toBeInstanceOf(AssertionError);
  });

  it('answers a forwarded update it committed already, and refuses one whose base it lacks', () => {
    const world = new FakeWorld();
    world.states = ['serving', 'serving'];
    world.chunk = {
      chunkId,
      committed: { version: 5, chainVersion: 3, length: 4, checksum: 4 },
      pending: undefined,
    };
    const core = world.core();
    const forwarded = (updateVersion: number, requestId: number) => ({
      kind: 'request' as const,
      requestId,
      request: {
        kind: 'forwarded-update' as const,
        request: {
          targetId: 2,
          chainId: 1,
          chainVersion: 3,
          chunkId,
          chunkSizeBytes,
          timeoutMs: 5_000,
          op: { kind: 'truncate' as const, length: 2 },
          updateVersion,
          fromTargetId: 1,
        },
        payload: undefined,
      },
    });
    const first = core.handle(forwarded(5, 1));
    const done = core.handle(ok(find(first, 'lock').id, find(first, 'lock').id));
    expect(kinds(done)).toEqual(['unlock', 'reply']);
    expect(replyOf(done)).toMatchObject({ ok: true, value: { version: 5 } });
    const second = core.handle(forwarded(7, 2));
    const refused = core.handle(ok(find(second, 'lock').id, find(second, 'lock').id));
    const outcome = replyOf(refused);
    expect(!outcome.ok && (outcome.error as FsError).code).toBe(StorageCode.ChunkVersionMismatch);
  });

  it('re-arms the settle timer after each round until settling stops', () => {
    const core = new FakeWorld().core();
    expect(kinds(core.handle({ kind: 'start-settling' }))).toEqual(['set-timer']);
    expect(kinds(core.handle({ kind: 'timer-fired' }))).toEqual(['set-timer']);
    expect(kinds(core.handle({ kind: 'stop-settling' }))).toEqual(['cancel-timer']);
    expect(kinds(core.handle({ kind: 'timer-fired' }))).toEqual([]);
  });
});
