// Closes of unwritten write sessions, deferred and batched: at most a bound of calls in flight, 32
// sessions a call, the rest waiting for a free call; a failed call tried again in halves; flush
// waits for every close.
import { describe, expect, it } from 'vitest';
import type { MetaClient } from '../../../src/client/meta-client.js';
import { SessionCloser } from '../../../src/client/session-closer.js';
import { ManualClock } from '../../../src/common/clock.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';

const cred = { uid: 0, gid: 0, groups: [] };

function fakeMeta(fail: (size: number) => boolean = () => false) {
  const calls: Array<{ size: number; settle: () => void }> = [];
  let inFlight = 0;
  let inFlightMax = 0;
  const meta = {
    call: (_method: unknown, request: { sessions: unknown[] }) => {
      inFlight += 1;
      inFlightMax = Math.max(inFlightMax, inFlight);
      return new Promise((resolve, reject) => {
        const size = request.sessions.length;
        calls.push({
          size,
          settle: () => {
            inFlight -= 1;
            if (fail(size)) reject(new Error('conflict'));
            else resolve({ closed: size });
          },
        });
      });
    },
  };
  return { meta: meta as unknown as MetaClient, calls, inFlightMax: () => inFlightMax };
}

describe('SessionCloser', () => {
  it('sends 32 to a call with a bounded number in flight, and flush waits for all', async () => {
    const { meta, calls, inFlightMax } = fakeMeta();
    const closer = new SessionCloser({ meta, clock: new ManualClock(), logger: silentLogger(), delayMs: 20 });
    for (let index = 0; index < 300; index++) {
      closer.add(BigInt(index + 2), { clientId: 'c', sessionId: `s${index}` }, cred);
    }
    expect(calls).toHaveLength(limits.clientSessionCloseCallsMax);
    let flushed = false;
    const flushing = closer.flush().then(() => (flushed = true));
    for (let settled = 0; settled < calls.length; settled++) {
      (calls[settled] as { settle: () => void }).settle();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await flushing;
    expect(flushed).toBe(true);
    expect(calls.reduce((sum, call) => sum + call.size, 0)).toBe(300);
    expect(Math.max(...calls.map((call) => call.size))).toBe(limits.clientSessionsClosedPerCallMax);
    expect(inFlightMax()).toBeLessThanOrEqual(limits.clientSessionCloseCallsMax);
  });

  it('tries a failed batch again in halves, once', async () => {
    const { meta, calls } = fakeMeta((size) => size > 8);
    const closer = new SessionCloser({ meta, clock: new ManualClock(), logger: silentLogger(), delayMs: 20 });
    for (let index = 0; index < 32; index++) {
      closer.add(BigInt(index + 2), { clientId: 'c', sessionId: `s${index}` }, cred);
    }
    const flushing = closer.flush();
    for (let settled = 0; settled < calls.length; settled++) {
      (calls[settled] as { settle: () => void }).settle();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await flushing;
    expect(calls.map((call) => call.size)).toEqual([32, 16, 16]);
  });
});
