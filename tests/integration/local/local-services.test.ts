// Proves the supervision of `3fs local` on real child processes: one that keeps dying is restarted with its exit status reported until the bound, then given up; a clean exit of a service whose clean exit is an end is not restarted; a stop cancels a pending restart; and a stop of one that ignores SIGTERM kills it at the deadline and says so.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalServices, describeExit, type ServiceEvent } from '../../../src/admin/local-services.js';
import { eventually } from '../helpers/processes.js';

const fastRestarts = { delayMsInitial: 20, delayMsMax: 40, restartsMax: 2, windowMs: 10_000 };

describe('LocalServices', () => {
  let binDir: string;
  let services: LocalServices | undefined;
  const events: string[] = [];

  beforeEach(() => {
    binDir = mkdtempSync(join(tmpdir(), '3fs-local-services-'));
    writeFileSync(join(binDir, 'crash.js'), 'process.exit(3);\n');
    writeFileSync(join(binDir, 'clean.js'), 'process.exit(0);\n');
    writeFileSync(
      join(binDir, 'stubborn.js'),
      "process.on('SIGTERM', () => {});\nsetInterval(() => {}, 1000);\n" +
        "require('node:fs').writeFileSync(__dirname + '/stubborn.ready', '');\n",
    );
    events.length = 0;
  });

  afterEach(() => {
    services?.killAll();
    rmSync(binDir, { recursive: true, force: true });
  });

  function record(event: ServiceEvent): void {
    const exit = 'exit' in event ? ` ${describeExit(event.exit)}` : '';
    events.push(`${event.kind} ${event.service.name}${exit}`);
  }

  it('restarts a service that keeps dying until the bound, then gives it up', async () => {
    services = new LocalServices(binDir, record, fastRestarts);
    services.start('crasher', 'crash', []);
    await eventually(
      async () => (events.some((event) => event.startsWith('gave-up')) ? true : undefined),
      10_000,
      'the give-up',
    );
    expect(events).toEqual([
      'restarting crasher exit code 3',
      'restarted crasher',
      'restarting crasher exit code 3',
      'restarted crasher',
      'gave-up crasher exit code 3',
    ]);
  });

  it('does not restart a service whose clean exit is an end', async () => {
    services = new LocalServices(binDir, record, fastRestarts);
    services.start('mount', 'clean', [], { cleanExitEnds: true });
    await eventually(async () => (events.length > 0 ? true : undefined), 10_000, 'the end');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events).toEqual(['ended mount exit code 0']);
  });

  it('cancels a pending restart when the service is stopped', async () => {
    services = new LocalServices(binDir, record, { ...fastRestarts, delayMsInitial: 500, delayMsMax: 500 });
    const crasher = services.start('crasher', 'crash', []);
    await eventually(async () => (events.length > 0 ? true : undefined), 10_000, 'the first death');
    expect(await services.stop([crasher], 1_000)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(events).toEqual(['restarting crasher exit code 3']);
  });

  it('kills a service that ignores SIGTERM at the deadline, and says so', async () => {
    services = new LocalServices(binDir, record, fastRestarts);
    const stubborn = services.start('stubborn', 'stubborn', []);
    // It says when its handler is installed (a loaded machine may take a while to start it).
    await eventually(
      async () => (existsSync(join(binDir, 'stubborn.ready')) ? true : undefined),
      20_000,
      'the stubborn service to install its SIGTERM handler',
    );
    expect(await services.stop([stubborn], 300)).toEqual(['stubborn (killed after 300 ms)']);
    expect(stubborn.child.signalCode).toBe('SIGKILL');
    expect(events).toEqual([]);
  });
});
