// Proves the client's tunables: defaults from common/limits, overrides applied, contradictions refused.
import { describe, expect, it } from 'vitest';
import { defaultTuning, resolveTuning } from '../../../src/client/client-tuning.js';
import { CommonCode } from '../../../src/common/status-code.js';

describe('resolveTuning', () => {
  it('takes the defaults and the overrides', () => {
    expect(resolveTuning()).toEqual(defaultTuning);
    expect(resolveTuning({ readAheadBytes: 0, routingRefreshMs: undefined })).toMatchObject({
      readAheadBytes: 0,
      routingRefreshMs: undefined,
    });
  });

  it('refuses values that contradict each other', () => {
    for (const overrides of [
      { writeBufferBytesPerFile: 1000 },
      { writeBufferBytesTotal: 2 << 20, writeBufferBytesPerFile: 4 << 20 },
      { requestIoConcurrency: 100, ioConcurrency: 10 },
      { metaTimeoutMs: 0 },
      { readAheadBytes: -1 },
    ]) {
      expect(() => resolveTuning(overrides)).toThrow(
        expect.objectContaining({ code: CommonCode.ConfigInvalid }),
      );
    }
  });
});
