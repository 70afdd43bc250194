/**
 * A deterministic runner of cooperative tasks, so decision code can be written as sequential steps
 * and still do no I/O. A task is a generator that yields instructions: perform an action and
 * resume with its outcome (`io`), run child tasks side by side and resume once all have settled
 * (`allSettled`), or wait for a latch another task settles. The runner never performs an action
 * itself: it hands each one out with an id, and the owner feeds the outcome back (`complete`).
 *
 * Invariants: tasks run one at a time, in the order they became ready (first in, first out), and
 * only inside `start` or `complete`; the same sequence of calls with the same outcomes yields the
 * same actions in the same order. Every action handed out is answered at most once.
 */
import { assert } from '../../common/errors.js';

/** How an action (or a task) ended. */
export type Outcome<T = unknown> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A one-shot result several tasks may wait for. */
export class Latch {
  outcome: Outcome | undefined;
  readonly waiters: Frame<unknown>[] = [];
}

/** What a task yields to the runner. */
export type Instruction<A> =
  | { readonly kind: 'io'; readonly action: A }
  | { readonly kind: 'allSettled'; readonly tasks: ReadonlyArray<Task<unknown, A>> }
  | { readonly kind: 'wait'; readonly latch: Latch }
  | { readonly kind: 'settle'; readonly latch: Latch; readonly outcome: Outcome };

/** A task: yields instructions, receives their results, returns `T`. */
export type Task<T, A> = Generator<Instruction<A>, T, unknown>;

/** Performs `action` and resumes with its value (or throws its error). */
export function* perform<T, A>(action: A): Task<T, A> {
  return (yield { kind: 'io', action }) as T;
}

/** Runs `tasks` side by side; resumes with each one's outcome, in order, once all have ended. */
export function* allSettled<A>(tasks: ReadonlyArray<Task<unknown, A>>): Task<Outcome[], A> {
  return (yield { kind: 'allSettled', tasks }) as Outcome[];
}

/** Waits for `latch`; resumes with its value or throws its error. */
export function* waitFor<A>(latch: Latch): Task<unknown, A> {
  return yield { kind: 'wait', latch };
}

/** Settles `latch` (once), waking the tasks waiting for it. */
export function* settle<A>(latch: Latch, outcome: Outcome): Task<void, A> {
  yield { kind: 'settle', latch, outcome };
}

/** A latch already settled with success. */
export function settledLatch(): Latch {
  const latch = new Latch();
  latch.outcome = { ok: true, value: undefined };
  return latch;
}

interface Join {
  readonly parent: Frame<unknown>;
  readonly outcomes: Outcome[];
  remaining: number;
}

interface Frame<A> {
  readonly task: Task<unknown, A>;
  readonly onEnd: (outcome: Outcome) => void;
}

/** An action handed out, with the id its outcome is fed back under. */
export interface Issued<A> {
  readonly id: number;
  readonly action: A;
}

export class TaskRunner<A> {
  private nextActionId = 1;
  private readonly awaiting = new Map<number, Frame<A>>();
  private readonly ready: Array<{ frame: Frame<A>; input: Outcome }> = [];
  private issued: Array<Issued<A>> = [];
  private running = false;

  /** Actions handed out and not yet answered. */
  get awaitingCount(): number {
    return this.awaiting.size;
  }

  /** Starts `task`; `onEnd` is told how it ended. Returns the actions it issued meanwhile. */
  start<T>(task: Task<T, A>, onEnd: (outcome: Outcome<T>) => void): Array<Issued<A>> {
    this.spawn(task, onEnd);
    return this.run();
  }

  /** Queues `task` to run with the others (from inside a task or an `onEnd`, where `start` is not allowed). */
  spawn<T>(task: Task<T, A>, onEnd: (outcome: Outcome<T>) => void): void {
    this.ready.push({
      frame: { task, onEnd: onEnd as (outcome: Outcome) => void },
      input: { ok: true, value: undefined },
    });
  }

  /** Feeds back the outcome of action `id`; returns the actions the resumed tasks issued. */
  complete(id: number, outcome: Outcome): Array<Issued<A>> {
    const frame = this.awaiting.get(id);
    assert(frame !== undefined, `action ${id} is awaited`);
    this.awaiting.delete(id);
    this.ready.push({ frame, input: outcome });
    return this.run();
  }

  /**
   * Hands out an action that no task waits for (a reply, a release); it goes out with the actions
   * of the current step.
   */
  emit(action: A): void {
    this.issued.push({ id: this.nextActionId++, action });
  }

  /** Runs ready tasks until every task waits; not reentrant. */
  run(): Array<Issued<A>> {
    assert(!this.running, 'the task runner is not reentered');
    this.running = true;
    try {
      for (let next = this.ready.shift(); next !== undefined; next = this.ready.shift()) {
        this.step(next.frame, next.input);
      }
    } finally {
      this.running = false;
    }
    const issued = this.issued;
    this.issued = [];
    return issued;
  }

  private step(frame: Frame<A>, input: Outcome): void {
    let result: IteratorResult<Instruction<A>, unknown>;
    try {
      result = input.ok ? frame.task.next(input.value) : frame.task.throw(input.error);
    } catch (error) {
      frame.onEnd({ ok: false, error });
      return;
    }
    if (result.done === true) {
      frame.onEnd({ ok: true, value: result.value });
      return;
    }
    this.follow(frame, result.value);
  }

  private follow(frame: Frame<A>, instruction: Instruction<A>): void {
    switch (instruction.kind) {
      case 'io': {
        const id = this.nextActionId++;
        this.awaiting.set(id, frame);
        this.issued.push({ id, action: instruction.action });
        return;
      }
      case 'allSettled':
        this.join(frame, instruction.tasks);
        return;
      case 'wait': {
        const { latch } = instruction;
        if (latch.outcome !== undefined) this.ready.push({ frame, input: latch.outcome });
        else latch.waiters.push(frame as Frame<unknown>);
        return;
      }
      case 'settle': {
        const { latch, outcome } = instruction;
        assert(latch.outcome === undefined, 'a latch is settled once');
        latch.outcome = outcome;
        for (const waiter of latch.waiters.splice(0))
          this.ready.push({ frame: waiter as Frame<A>, input: outcome });
        this.ready.push({ frame, input: { ok: true, value: undefined } });
        return;
      }
    }
  }

  private join(parent: Frame<A>, tasks: ReadonlyArray<Task<unknown, A>>): void {
    const join: Join = { parent: parent as Frame<unknown>, outcomes: [], remaining: tasks.length };
    if (tasks.length === 0) {
      this.ready.push({ frame: parent, input: { ok: true, value: [] } });
      return;
    }
    tasks.forEach((task, index) => {
      const child: Frame<A> = {
        task,
        onEnd: (outcome) => {
          join.outcomes[index] = outcome;
          join.remaining -= 1;
          if (join.remaining === 0) {
            this.ready.push({ frame: join.parent as Frame<A>, input: { ok: true, value: join.outcomes } });
          }
        },
      };
      this.ready.push({ frame: child, input: { ok: true, value: undefined } });
    });
  }
}
