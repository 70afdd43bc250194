// Proves the task runner under the replicator core: a task's actions go out with ids and it resumes
// with each outcome (a failure is thrown into it), side-by-side tasks resume their parent once all
// have ended, a latch wakes the tasks waiting for it, and the same calls give the same actions.
import { describe, expect, it } from 'vitest';
import {
  Latch,
  TaskRunner,
  allSettled,
  perform,
  settle,
  waitFor,
  type Outcome,
  type Task,
} from '../../../src/storage/craq/task-runner.js';

type Action = { name: string };

function* readThenWrite(log: string[]): Task<string, Action> {
  const value = yield* perform<string, Action>({ name: 'read' });
  try {
    yield* perform<void, Action>({ name: `write ${value}` });
  } catch (error) {
    log.push(`caught ${String(error)}`);
    return 'recovered';
  }
  return 'written';
}

describe('the task runner', () => {
  it('hands out actions one step at a time and resumes with their outcomes, failures thrown in', () => {
    const runner = new TaskRunner<Action>();
    const log: string[] = [];
    let ended: Outcome | undefined;
    const first = runner.start(readThenWrite(log), (outcome) => (ended = outcome));
    expect(first.map((issued) => issued.action.name)).toEqual(['read']);
    const second = runner.complete(first[0]?.id ?? 0, { ok: true, value: 'x' });
    expect(second.map((issued) => issued.action.name)).toEqual(['write x']);
    expect(ended).toBeUndefined();
    runner.complete(second[0]?.id ?? 0, { ok: false, error: 'disk full' });
    expect(log).toEqual(['caught disk full']);
    expect(ended).toEqual({ ok: true, value: 'recovered' });
    expect(runner.awaitingCount).toBe(0);
  });

  it('resumes a parent once all its side-by-side tasks ended, and wakes the waiters of a latch', () => {
    const runner = new TaskRunner<Action>();
    const latch = new Latch();
    function* signaller(): Task<string, Action> {
      yield* perform<void, Action>({ name: 'local' });
      yield* settle<Action>(latch, { ok: true, value: undefined });
      return 'local done';
    }
    function* waiter(): Task<string, Action> {
      yield* waitFor<Action>(latch);
      yield* perform<void, Action>({ name: 'remote' });
      return 'remote done';
    }
    let ended: Outcome | undefined;
    function* parent(): Task<Outcome[], Action> {
      return yield* allSettled<Action>([signaller(), waiter()]);
    }
    const first = runner.start(parent(), (outcome) => (ended = outcome));
    expect(first.map((issued) => issued.action.name)).toEqual(['local']);
    const second = runner.complete(first[0]?.id ?? 0, { ok: true, value: undefined });
    expect(second.map((issued) => issued.action.name)).toEqual(['remote']);
    expect(ended).toBeUndefined();
    runner.complete(second[0]?.id ?? 0, { ok: true, value: undefined });
    expect(ended).toEqual({
      ok: true,
      value: [
        { ok: true, value: 'local done' },
        { ok: true, value: 'remote done' },
      ],
    });
  });

  it('refuses an outcome for an action nobody awaits', () => {
    const runner = new TaskRunner<Action>();
    expect(() => runner.complete(42, { ok: true, value: undefined })).toThrow(/awaited/);
  });
});
