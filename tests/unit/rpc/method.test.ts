// Proves method definitions check their wire ids and give every (service, method) pair its own key.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AssertionError } from '../../../src/common/errors.js';
import { defineMethod, methodKey } from '../../../src/rpc/method.js';

const base = { name: 'test.method', request: z.object({}), response: z.object({}), idempotent: true };

describe('method definitions', () => {
  it('keeps the ids, name and idempotency it was given', () => {
    const method = defineMethod({ ...base, serviceId: 3, methodId: 4 });
    expect(method).toMatchObject({ serviceId: 3, methodId: 4, name: 'test.method', idempotent: true });
  });

  it('refuses ids that do not fit in 16 bits', () => {
    expect(() => defineMethod({ ...base, serviceId: 65_536, methodId: 1 })).toThrow(AssertionError);
    expect(() => defineMethod({ ...base, serviceId: 1, methodId: -1 })).toThrow(AssertionError);
    expect(() => defineMethod({ ...base, serviceId: 1.5, methodId: 1 })).toThrow(AssertionError);
  });

  it('gives distinct pairs distinct keys', () => {
    expect(methodKey(1, 0)).not.toBe(methodKey(0, 1));
    expect(methodKey(65_535, 65_535)).toBe(2 ** 32 - 1);
  });
});
