// The behaviours every KvEngine must show (DESIGN §5), as one suite any engine can be run against.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock, type Clock } from '../../src/common/clock.js';
import { FsError } from '../../src/common/errors.js';
import { CommonCode, KvCode, statusName, type StatusCode } from '../../src/common/status-code.js';
import {
  prefixEnd,
  u64BigEndian,
  type KeyValue,
  type KvEngine,
  type KvReadTransaction,
  type KvTransaction,
} from '../../src/kv/index.js';

/** An engine under test and how to dispose of it. */
export interface KvConformanceSubject {
  engine: KvEngine;
  cleanup(): Promise<void>;
}

/** What the suite asks of a factory: the engine must read time (the age limit) from `clock`. */
export interface KvConformanceContext {
  clock: Clock;
}

/**
 * Creates an engine over an empty key space for each test. A factory that takes no argument is
 * accepted too; the age-limit tests then fail, since they drive a ManualClock.
 */
export type KvConformanceFactory = (context: KvConformanceContext) => Promise<KvConformanceSubject>;

/** Key helper: the latin1 bytes of `text`. */
const k = (text: string): Buffer => Buffer.from(text, 'latin1');
/** Key helper: the given bytes. */
const bytes = (...values: number[]): Buffer => Buffer.from(values);
/** The end of a range that holds every key the suite writes (keys are shorter than 8 bytes). */
const everything = bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

function texts(pairs: readonly KeyValue[]): string[] {
  return pairs.map((pair) => pair.key.toString('latin1'));
}

async function codeOf(promise: Promise<unknown>): Promise<FsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FsError) return error;
    throw new Error(`expected an FsError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection');
}

function syncCodeOf(action: () => unknown): FsError {
  try {
    action();
  } catch (error) {
    if (error instanceof FsError) return error;
    throw new Error(`expected an FsError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a throw');
}

function expectCode(error: FsError, code: StatusCode): void {
  expect(statusName(error.code)).toBe(statusName(code));
}

async function readAll(engine: KvEngine): Promise<string[]> {
  return engine.read(async (tx) => texts(await tx.getRange(bytes(), everything)));
}

async function setAll(engine: KvEngine, entries: Record<string, string>): Promise<void> {
  await engine.transact(async (tx) => {
    for (const [key, value] of Object.entries(entries)) tx.set(k(key), k(value));
  });
}

/** Defines the conformance tests of one engine. */
export function defineKvConformance(engineName: string, factory: KvConformanceFactory): void {
  describe(`kv conformance: ${engineName}`, () => {
    const opened: KvConformanceSubject[] = [];
    const open = async (clock: Clock = systemClock): Promise<KvEngine> => {
      const subject = await factory({ clock });
      opened.push(subject);
      return subject.engine;
    };
    afterEach(async () => {
      for (const subject of opened.splice(0)) await subject.cleanup();
    });

    describeBasics(open);
    describeRanges(open);
    describeKeyOrder(open);
    describeReadYourWrites(open);
    describeSnapshots(open);
    describeAtomicity(open);
    describeLimits(open);
    describeAgeLimit(open);
    describeLifecycle(open);
  });
}

type Operation =
  | { kind: 'set'; key: Buffer; value: Uint8Array }
  | { kind: 'clear'; key: Buffer }
  | { kind: 'clearRange'; range: Buffer[] }
  | { kind: 'get'; key: Buffer; snapshot: boolean }
  | { kind: 'getRange'; range: Buffer[]; limit: number; reverse: boolean; snapshot: boolean };

/** Applies one operation to the transaction and the model; reads must agree with the model. */
async function applyAndCompare(
  tx: KvTransaction,
  model: Map<string, Buffer>,
  step: Operation,
): Promise<void> {
  const reader = (snapshot: boolean) => (snapshot ? tx.snapshot : tx);
  switch (step.kind) {
    case 'set':
      tx.set(step.key, step.value);
      model.set(step.key.toString('latin1'), Buffer.from(step.value));
      return;
    case 'clear':
      tx.clear(step.key);
      model.delete(step.key.toString('latin1'));
      return;
    case 'clearRange': {
      const [begin, end] = step.range as [Buffer, Buffer];
      tx.clearRange(begin, end);
      for (const key of [...model.keys()]) {
        const bytesOfKey = Buffer.from(key, 'latin1');
        if (Buffer.compare(bytesOfKey, begin) >= 0 && Buffer.compare(bytesOfKey, end) < 0) model.delete(key);
      }
      return;
    }
    case 'get': {
      const value = await reader(step.snapshot).get(step.key);
      expect(value?.toString('hex')).toBe(model.get(step.key.toString('latin1'))?.toString('hex'));
      return;
    }
    case 'getRange': {
      const [begin, end] = step.range as [Buffer, Buffer];
      const options = { limit: step.limit, reverse: step.reverse };
      const pairs = await reader(step.snapshot).getRange(begin, end, options);
      expect(pairs.map(hexPair)).toEqual(
        modelRange(model, begin, end, step.limit, step.reverse).map(hexPair),
      );
      return;
    }
  }
}

function modelRange(
  model: Map<string, Buffer>,
  begin: Buffer,
  end: Buffer,
  limit: number,
  reverse: boolean,
): KeyValue[] {
  const pairs = [...model.entries()]
    .map(([key, value]) => ({ key: Buffer.from(key, 'latin1'), value }))
    .filter((pair) => Buffer.compare(pair.key, begin) >= 0 && Buffer.compare(pair.key, end) < 0)
    .sort((left, right) => Buffer.compare(left.key, right.key));
  if (reverse) pairs.reverse();
  return limit === 0 ? pairs : pairs.slice(0, limit);
}

function hexPair(pair: KeyValue): string {
  return `${pair.key.toString('hex')}=${pair.value.toString('hex')}`;
}

/** Opens an engine for one test; everything opened is cleaned up after the test. */
type Open = (clock?: Clock) => Promise<KvEngine>;

function describeBasics(open: Open): void {
  describe('get, set, clear and clearRange', () => {
    it('reads back a committed value in a later transaction', async () => {
      const engine = await open();
      await setAll(engine, { alpha: 'one' });
      const value = await engine.read((tx) => tx.get(k('alpha')));
      expect(value?.toString('latin1')).toBe('one');
    });

    it('answers undefined for a key never written', async () => {
      const engine = await open();
      expect(await engine.read((tx) => tx.get(k('missing')))).toBeUndefined();
    });

    it('overwrites a value and clears a key', async () => {
      const engine = await open();
      await setAll(engine, { alpha: 'one', beta: 'two' });
      await engine.transact(async (tx) => {
        tx.set(k('alpha'), k('uno'));
        tx.clear(k('beta'));
      });
      const [alpha, beta] = await engine.read((tx) => Promise.all([tx.get(k('alpha')), tx.get(k('beta'))]));
      expect(alpha?.toString('latin1')).toBe('uno');
      expect(beta).toBeUndefined();
    });

    it('clearRange removes exactly the keys in [begin, end)', async () => {
      const engine = await open();
      await setAll(engine, { a: '1', b: '2', ba: '3', c: '4', d: '5' });
      await engine.transact(async (tx) => tx.clearRange(k('b'), k('c\u0000')));
      expect(await readAll(engine)).toEqual(['a', 'd']);
    });

    it('accepts an empty key and an empty value', async () => {
      const engine = await open();
      await engine.transact(async (tx) => tx.set(bytes(), bytes()));
      const value = await engine.read((tx) => tx.get(bytes()));
      expect(value?.length).toBe(0);
    });

    it('stores a copy of the bytes it was given', async () => {
      const engine = await open();
      const value = k('original');
      await engine.transact(async (tx) => {
        tx.set(k('copied'), value);
        value.fill(0x2a);
      });
      const stored = await engine.read((tx) => tx.get(k('copied')));
      expect(stored?.toString('latin1')).toBe('original');
    });
  });
}

function describeRanges(open: Open): void {
  describe('range reads', () => {
    const tenKeys = Object.fromEntries(
      Array.from({ length: 10 }, (_, index) => [`key${index}`, `v${index}`]),
    );
    const read = (
      engine: KvEngine,
      begin: Buffer,
      end: Buffer,
      options?: { limit?: number; reverse?: boolean },
    ) => engine.read(async (tx) => texts(await tx.getRange(begin, end, options)));

    it('returns the pairs of [begin, end) in key order with their values', async () => {
      const engine = await open();
      await setAll(engine, tenKeys);
      const pairs = await engine.read((tx) => tx.getRange(k('key2'), k('key5')));
      expect(pairs.map((pair) => `${pair.key.toString('latin1')}=${pair.value.toString('latin1')}`)).toEqual([
        'key2=v2',
        'key3=v3',
        'key4=v4',
      ]);
    });

    it('returns the first `limit` pairs going forward', async () => {
      const engine = await open();
      await setAll(engine, tenKeys);
      expect(await read(engine, k('key2'), k('key7'), { limit: 3 })).toEqual(['key2', 'key3', 'key4']);
    });

    it('returns the last `limit` pairs in descending order in reverse', async () => {
      const engine = await open();
      await setAll(engine, tenKeys);
      expect(await read(engine, k('key2'), k('key7'), { reverse: true })).toEqual([
        'key6',
        'key5',
        'key4',
        'key3',
        'key2',
      ]);
      expect(await read(engine, k('key2'), k('key7'), { limit: 2, reverse: true })).toEqual(['key6', 'key5']);
    });

    it('treats a limit of 0 as no limit and a limit past the end as the whole range', async () => {
      const engine = await open();
      await setAll(engine, tenKeys);
      expect(await read(engine, k('key0'), k('key9'), { limit: 0 })).toHaveLength(9);
      expect(await read(engine, k('key7'), everything, { limit: 100 })).toEqual(['key7', 'key8', 'key9']);
      expect(await read(engine, k('key7'), everything, { limit: 100, reverse: true })).toEqual([
        'key9',
        'key8',
        'key7',
      ]);
    });

    it('returns nothing for an empty range and for a range without keys', async () => {
      const engine = await open();
      await setAll(engine, tenKeys);
      expect(await read(engine, k('key3'), k('key3'))).toEqual([]);
      expect(await read(engine, k('key3'), k('key3'), { reverse: true })).toEqual([]);
      expect(await read(engine, k('key3x'), k('key4'))).toEqual([]);
      expect(await read(engine, k('zzz'), everything, { reverse: true, limit: 1 })).toEqual([]);
    });

    it('refuses an inverted range with InvalidRange', async () => {
      const engine = await open();
      const error = await codeOf(engine.read((tx) => tx.getRange(k('b'), k('a'))));
      expectCode(error, KvCode.InvalidRange);
      const clearError = await codeOf(engine.transact(async (tx) => tx.clearRange(k('b'), k('a'))));
      expectCode(clearError, KvCode.InvalidRange);
    });

    it('refuses a negative limit with InvalidArgument', async () => {
      const engine = await open();
      const error = await codeOf(engine.read((tx) => tx.getRange(k('a'), k('b'), { limit: -1 })));
      expectCode(error, CommonCode.InvalidArgument);
    });
  });
}

function describeKeyOrder(open: Open): void {
  describe('key order', () => {
    it('orders keys bytewise with a proper prefix first, 0x00 and 0xff included', async () => {
      const engine = await open();
      const ordered = [
        bytes(),
        bytes(0x00),
        bytes(0x00, 0x00),
        bytes(0x00, 0xff),
        bytes(0x01),
        k('a'),
        k('a\u0000'),
        k('ab'),
        bytes(0x7f),
        bytes(0x80),
        bytes(0xfe, 0xff),
        bytes(0xff),
        bytes(0xff, 0x00),
        bytes(0xff, 0xff),
      ];
      const shuffled = [...ordered].reverse();
      shuffled.push(...shuffled.splice(0, 5));
      await engine.transact(async (tx) => {
        for (const key of shuffled) tx.set(key, key);
      });
      const pairs = await engine.read((tx) => tx.getRange(bytes(), everything));
      expect(pairs.map((pair) => pair.key.toString('hex'))).toEqual(
        ordered.map((key) => key.toString('hex')),
      );
      for (const pair of pairs) expect(pair.value.equals(pair.key)).toBe(true);
    });

    it('reads exactly the keys with a prefix between the prefix and prefixEnd', async () => {
      const engine = await open();
      const inside = [k('ab'), k('ab\u0000'), k('abc'), Buffer.concat([k('ab'), bytes(0xff, 0xff)])];
      const outside = [k('a'), Buffer.concat([k('aa'), bytes(0xff)]), k('ac'), k('b')];
      await engine.transact(async (tx) => {
        for (const key of [...outside, ...inside]) tx.set(key, bytes(1));
      });
      const pairs = await engine.read((tx) => tx.getRange(k('ab'), prefixEnd(k('ab'))));
      expect(pairs.map((pair) => pair.key.toString('hex'))).toEqual(inside.map((key) => key.toString('hex')));
    });

    it('orders big-endian integer keys numerically', async () => {
      const engine = await open();
      const numbers = [0n, 1n, 255n, 256n, 65_535n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n];
      await engine.transact(async (tx) => {
        for (const number of [...numbers].reverse())
          tx.set(Buffer.concat([k('n'), u64BigEndian(number)]), bytes());
      });
      const pairs = await engine.read((tx) => tx.getRange(k('n'), prefixEnd(k('n'))));
      expect(pairs.map((pair) => pair.key.readBigUInt64BE(1))).toEqual(numbers);
    });
  });
}

function describeReadYourWrites(open: Open): void {
  describe('read-your-writes', () => {
    it('get sees the transaction’s own sets and clears before commit', async () => {
      const engine = await open();
      await setAll(engine, { kept: 'old', dropped: 'old' });
      const seen = await engine.transact(async (tx) => {
        tx.set(k('kept'), k('new'));
        tx.set(k('fresh'), k('new'));
        tx.clear(k('dropped'));
        return Promise.all([tx.get(k('kept')), tx.get(k('fresh')), tx.get(k('dropped'))]);
      });
      expect(seen.map((value) => value?.toString('latin1'))).toEqual(['new', 'new', undefined]);
    });

    it('range reads overlay pending sets, clears and cleared ranges in both directions', async () => {
      const engine = await open();
      await setAll(engine, { a: '1', b: '1', c: '1', d: '1', e: '1', f: '1' });
      const views = await engine.transact(async (tx) => {
        tx.clear(k('b'));
        tx.set(k('bb'), k('2'));
        tx.clearRange(k('c'), k('e'));
        tx.set(k('cc'), k('2'));
        tx.set(k('f'), k('2'));
        tx.set(k('g'), k('2'));
        return {
          all: texts(await tx.getRange(k(''), everything)),
          values: (await tx.getRange(k('e'), everything)).map((pair) => pair.value.toString('latin1')),
          firstThree: texts(await tx.getRange(k(''), everything, { limit: 3 })),
          lastThree: texts(await tx.getRange(k(''), everything, { limit: 3, reverse: true })),
          reverse: texts(await tx.getRange(k('b'), k('f'), { reverse: true })),
        };
      });
      expect(views.all).toEqual(['a', 'bb', 'cc', 'e', 'f', 'g']);
      expect(views.values).toEqual(['1', '2', '2']);
      expect(views.firstThree).toEqual(['a', 'bb', 'cc']);
      expect(views.lastThree).toEqual(['g', 'f', 'e']);
      expect(views.reverse).toEqual(['e', 'cc', 'bb']);
      expect(await readAll(engine)).toEqual(['a', 'bb', 'cc', 'e', 'f', 'g']);
    });

    it('agrees with a simple model over random committed states, writes and reads', async () => {
      const engine = await open();
      const keyArbitrary = fc
        .array(fc.constantFrom(0x00, 0x01, 0x61, 0xfe, 0xff), { maxLength: 3 })
        .map((values) => Buffer.from(values));
      const rangeArbitrary = fc
        .tuple(keyArbitrary, keyArbitrary)
        .map(([left, right]) => (Buffer.compare(left, right) <= 0 ? [left, right] : [right, left]));
      const operation = fc.oneof(
        fc.record({
          kind: fc.constant('set' as const),
          key: keyArbitrary,
          value: fc.uint8Array({ maxLength: 4 }),
        }),
        fc.record({ kind: fc.constant('clear' as const), key: keyArbitrary }),
        fc.record({ kind: fc.constant('clearRange' as const), range: rangeArbitrary }),
        fc.record({ kind: fc.constant('get' as const), key: keyArbitrary, snapshot: fc.boolean() }),
        fc.record({
          kind: fc.constant('getRange' as const),
          range: rangeArbitrary,
          limit: fc.nat({ max: 5 }),
          reverse: fc.boolean(),
          snapshot: fc.boolean(),
        }),
      );
      const committed = fc.dictionary(
        keyArbitrary.map((key) => key.toString('latin1')),
        fc.uint8Array({ maxLength: 4 }),
        { maxKeys: 12 },
      );
      await fc.assert(
        fc.asyncProperty(committed, fc.array(operation, { maxLength: 25 }), async (initial, operations) => {
          const model = new Map<string, Buffer>();
          await engine.transact(async (tx) => {
            tx.clearRange(bytes(), everything);
            for (const [key, value] of Object.entries(initial)) {
              tx.set(k(key), value);
              model.set(key, Buffer.from(value));
            }
          });
          await engine.transact(async (tx) => {
            for (const step of operations) await applyAndCompare(tx, model, step);
          });
          const stored = await engine.read((tx) => tx.getRange(bytes(), everything));
          expect(stored.map(hexPair)).toEqual(modelRange(model, bytes(), everything, 0, false).map(hexPair));
        }),
        { numRuns: 60 },
      );
    });
  });
}

function describeSnapshots(open: Open): void {
  describe('snapshots', () => {
    it('snapshot reads see committed data and the transaction’s own writes', async () => {
      const engine = await open();
      await setAll(engine, { a: '1', b: '1' });
      const seen = await engine.transact(async (tx) => {
        tx.set(k('b'), k('2'));
        tx.set(k('c'), k('2'));
        return {
          a: (await tx.snapshot.get(k('a')))?.toString('latin1'),
          b: (await tx.snapshot.get(k('b')))?.toString('latin1'),
          range: texts(await tx.snapshot.getRange(k('a'), everything)),
        };
      });
      expect(seen).toEqual({ a: '1', b: '2', range: ['a', 'b', 'c'] });
    });

    it('a read-only transaction sees one consistent snapshot while a writer commits', async () => {
      const engine = await open();
      await setAll(engine, { a: 'old', b: 'old' });
      const seen = await engine.read(async (tx) => {
        const before = (await tx.get(k('a')))?.toString('latin1');
        await engine.transact(async (writer) => {
          writer.set(k('a'), k('new'));
          writer.set(k('b'), k('new'));
        });
        const after = (await tx.get(k('b')))?.toString('latin1');
        return [before, after];
      });
      expect(seen).toEqual(['old', 'old']);
      const later = await engine.read((tx) => tx.get(k('b')));
      expect(later?.toString('latin1')).toBe('new');
    });
  });
}

function describeAtomicity(open: Open): void {
  describe('atomicity and retries', () => {
    it('a transaction whose function throws leaves nothing behind and its error reaches the caller', async () => {
      const engine = await open();
      const failure = new Error('the function failed');
      let calls = 0;
      const outcome = engine.transact(async (tx) => {
        calls++;
        tx.set(k('partial'), k('1'));
        throw failure;
      });
      await expect(outcome).rejects.toBe(failure);
      expect(calls).toBe(1);
      expect(await readAll(engine)).toEqual([]);
    });

    it('retries a retryable failure and keeps only the successful attempt’s writes', async () => {
      const engine = await open();
      let calls = 0;
      const result = await engine.transact(async (tx) => {
        calls++;
        tx.set(k(`attempt${calls}`), k('1'));
        if (calls < 3) throw new FsError(KvCode.Conflict, 'simulated conflict');
        return 'done';
      });
      expect(result).toBe('done');
      expect(calls).toBe(3);
      expect(await readAll(engine)).toEqual(['attempt3']);
    });

    it('reports RetriesExhausted carrying the last error when every attempt fails retryably', async () => {
      const engine = await open();
      let calls = 0;
      const error = await codeOf(
        engine.transact(
          async () => {
            calls++;
            throw new FsError(KvCode.Conflict, `simulated conflict ${calls}`);
          },
          { attemptsMax: 3 },
        ),
      );
      expectCode(error, KvCode.RetriesExhausted);
      expect(calls).toBe(3);
      expect(error.cause).toBeInstanceOf(FsError);
      expect((error.cause as FsError).message).toBe('simulated conflict 3');
    });

    it('does not retry a non-retryable error', async () => {
      const engine = await open();
      let calls = 0;
      const error = await codeOf(
        engine.transact(async () => {
          calls++;
          throw new FsError(KvCode.EngineFailure, 'not worth retrying');
        }),
      );
      expectCode(error, KvCode.EngineFailure);
      expect(calls).toBe(1);
    });

    it('concurrent transactions that fail do not disturb the ones that succeed', async () => {
      const engine = await open();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 12 }, (_, index) =>
          engine.transact(async (tx) => {
            tx.set(k(`key${index.toString().padStart(2, '0')}`), k('1'));
            if (index % 3 === 0) throw new Error(`failure ${index}`);
          }),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(4);
      expect(await readAll(engine)).toEqual([
        'key01',
        'key02',
        'key04',
        'key05',
        'key07',
        'key08',
        'key10',
        'key11',
      ]);
    });

    it('concurrent read-modify-write increments from several clients end exactly right', async () => {
      const engine = await open();
      const clients = 8;
      const incrementsPerClient = 25;
      const increment = (tx: KvTransaction) =>
        tx.get(k('counter')).then((value) => {
          const next = (value === undefined ? 0n : value.readBigUInt64BE()) + 1n;
          tx.set(k('counter'), u64BigEndian(next));
        });
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (let index = 0; index < incrementsPerClient; index++) await engine.transact(increment);
        }),
      );
      const total = await engine.read((tx) => tx.get(k('counter')));
      expect(total?.readBigUInt64BE()).toBe(BigInt(clients * incrementsPerClient));
    });

    it('an aborted signal stops the transaction before its function runs', async () => {
      const engine = await open();
      const controller = new AbortController();
      controller.abort(new Error('caller gave up'));
      let calls = 0;
      await expect(
        engine.transact(
          async () => {
            calls++;
          },
          { signal: controller.signal },
        ),
      ).rejects.toThrow('caller gave up');
      expect(calls).toBe(0);
    });
  });
}

function describeLimits(open: Open): void {
  describe('limits', () => {
    it('accepts a key of 10,000 bytes and refuses 10,001 with KeyTooLarge and a clear message', async () => {
      const engine = await open();
      await engine.transact(async (tx) => tx.set(Buffer.alloc(10_000, 0x61), bytes(1)));
      const setError = await codeOf(
        engine.transact(async (tx) => tx.set(Buffer.alloc(10_001, 0x61), bytes(1))),
      );
      expectCode(setError, KvCode.KeyTooLarge);
      expect(setError.message).toMatch(/10001 bytes.*limit of 10000 bytes/);
      const getError = await codeOf(engine.read((tx) => tx.get(Buffer.alloc(10_001, 0x61))));
      expectCode(getError, KvCode.KeyTooLarge);
      const clearError = await codeOf(engine.transact(async (tx) => tx.clear(Buffer.alloc(10_001, 0x61))));
      expectCode(clearError, KvCode.KeyTooLarge);
    });

    it('accepts a value of 100,000 bytes and refuses 100,001 with ValueTooLarge and a clear message', async () => {
      const engine = await open();
      await engine.transact(async (tx) => tx.set(k('big'), Buffer.alloc(100_000, 1)));
      expect((await engine.read((tx) => tx.get(k('big'))))?.length).toBe(100_000);
      const error = await codeOf(engine.transact(async (tx) => tx.set(k('big'), Buffer.alloc(100_001, 1))));
      expectCode(error, KvCode.ValueTooLarge);
      expect(error.message).toMatch(/100001 bytes.*limit of 100000 bytes/);
    });

    it('refuses mutations over 10,000,000 bytes with TransactionTooLarge and commits just under it', async () => {
      const engine = await open();
      const value = Buffer.alloc(100_000, 7);
      await engine.transact(async (tx) => {
        for (let index = 0; index < 99; index++) tx.set(k(`v${index.toString().padStart(2, '0')}`), value);
      });
      expect(await engine.read(async (tx) => (await tx.getRange(k('v'), k('w'))).length)).toBe(99);
      const error = await codeOf(
        engine.transact(async (tx) => {
          for (let index = 0; index < 101; index++) tx.set(k(`w${index.toString().padStart(3, '0')}`), value);
        }),
      );
      expectCode(error, KvCode.TransactionTooLarge);
      expect(error.message).toMatch(/limit of 10000000 bytes/);
      expect(await engine.read(async (tx) => (await tx.getRange(k('w'), k('x'))).length)).toBe(0);
    });
  });
}

function describeAgeLimit(open: Open): void {
  describe('transaction age limit (5 s, on an injected clock)', () => {
    it('an operation and the commit after 5 s fail with TransactionTooOld and nothing is written', async () => {
      const clock = new ManualClock();
      const engine = await open(clock);
      let inside: unknown;
      const error = await codeOf(
        engine.transact(
          async (tx) => {
            tx.set(k('aged'), k('1'));
            clock.advance(5_001);
            try {
              await tx.get(k('aged'));
            } catch (caught) {
              inside = caught;
            }
          },
          { attemptsMax: 1 },
        ),
      );
      expectCode(error, KvCode.RetriesExhausted);
      expectCode(error.cause as FsError, KvCode.TransactionTooOld);
      expect((error.cause as FsError).message).toMatch(/limit of 5000 ms/);
      expectCode(inside as FsError, KvCode.TransactionTooOld);
      expect(await engine.read((tx) => tx.get(k('aged')))).toBeUndefined();
    });

    it('a function that hangs is abandoned after 5 s and the next transaction proceeds', async () => {
      const clock = new ManualClock();
      const engine = await open(clock);
      let resume: () => void = () => {};
      const hang = new Promise<void>((resolve) => (resume = resolve));
      let entered: () => void = () => {};
      const hasEntered = new Promise<void>((resolve) => (entered = resolve));
      let lateError: unknown;
      const stuck = engine.transact(
        async (tx) => {
          tx.set(k('stuck'), k('1'));
          entered();
          await hang;
          try {
            tx.set(k('late'), k('1'));
          } catch (caught) {
            lateError = caught;
          }
        },
        { attemptsMax: 1 },
      );
      await hasEntered;
      const next = engine.transact(async (tx) => tx.set(k('next'), k('1')));
      clock.advance(5_001);
      expectCode(await codeOf(stuck), KvCode.RetriesExhausted);
      await next;
      resume();
      await new Promise((resolve) => setImmediate(resolve));
      expectCode(lateError as FsError, KvCode.TransactionTooOld);
      expect(await readAll(engine)).toEqual(['next']);
    });

    it('a read-only function that hangs is abandoned after 5 s too', async () => {
      const clock = new ManualClock();
      const engine = await open(clock);
      let entered: () => void = () => {};
      const hasEntered = new Promise<void>((resolve) => (entered = resolve));
      const stuck = engine.read(
        async (tx) => {
          await tx.get(k('a'));
          entered();
          await new Promise<never>(() => {});
        },
        { attemptsMax: 1 },
      );
      await hasEntered;
      const next = engine.read((tx) => tx.get(k('a')));
      clock.advance(5_001);
      expectCode(await codeOf(stuck), KvCode.RetriesExhausted);
      expect(await next).toBeUndefined();
    });
  });
}

function describeLifecycle(open: Open): void {
  describe('lifecycle', () => {
    it('a transaction object used after its function finished fails with TransactionFinished', async () => {
      const engine = await open();
      let kept: KvTransaction | undefined;
      await engine.transact(async (tx) => {
        kept = tx;
      });
      const used = kept as KvTransaction;
      expectCode(await codeOf(used.get(k('a'))), KvCode.TransactionFinished);
      expectCode(await codeOf(used.getRange(k('a'), k('b'))), KvCode.TransactionFinished);
      expectCode(await codeOf(used.snapshot.get(k('a'))), KvCode.TransactionFinished);
      expectCode(
        syncCodeOf(() => used.set(k('a'), k('1'))),
        KvCode.TransactionFinished,
      );
      let keptReader: KvReadTransaction | undefined;
      await engine.read(async (tx) => {
        keptReader = tx;
      });
      expectCode(await codeOf((keptReader as KvReadTransaction).get(k('a'))), KvCode.TransactionFinished);
      expect(await readAll(engine)).toEqual([]);
    });

    it('a closed engine refuses new transactions with Closed after finishing running ones', async () => {
      const engine = await open();
      const running = engine.transact(async (tx) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        tx.set(k('finished'), k('1'));
      });
      await new Promise((resolve) => setImmediate(resolve));
      await engine.close();
      await running;
      expectCode(await codeOf(engine.transact(async () => {})), KvCode.Closed);
      expectCode(await codeOf(engine.read(async () => {})), KvCode.Closed);
    });
  });
}
