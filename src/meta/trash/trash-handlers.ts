/**
 * The trash methods' handlers (methods 40–44). Removals, restores and settings are one
 * transaction each through the service's mutations (request records, change log); a purge loops
 * over bounded transactions, and answers `done: false` when a call's bound ends first.
 */
import type { HandlerTable } from '../meta-handlers.js';
import type { MetaService } from '../meta-service.js';
import { metaMethods as m } from '../protocol/index.js';
import { limits } from '../../common/limits.js';
import { listItems } from './trash-list.js';
import { setPolicy } from './trash-policy.js';
import { purgeStep } from './trash-purge.js';
import { removeThroughTrash } from './trash-remove.js';
import { restoreItem } from './trash-restore.js';
import { checkMayTouch } from './trash-rules.js';
import { squashCredentials } from '../permissions.js';

/** Registers trashRemove, listTrash, restoreTrash, purgeTrash and setTrashPolicy. */
export function registerTrashHandlers(service: MetaService, table: HandlerTable): void {
  table.on(m.trashRemove, async (request) =>
    service.mutate(request, { ids: 0 }, (writer, ctx) => removeThroughTrash(writer, ctx, request)),
  );
  table.on(m.listTrash, async (request) => {
    const nowNs = service.nowNs();
    const page = await service.read(request.cred, (reader, cred) => listItems(reader, cred, request));
    return { ...page, nowNs };
  });
  table.on(m.restoreTrash, async (request) =>
    service.mutate(request, { ids: 0 }, (writer, ctx) => restoreItem(writer, ctx, request)),
  );
  table.on(m.purgeTrash, async (request) => {
    checkMayTouch(squashCredentials(request.cred, service.options.rootSquash), request.item.uid);
    let removedInodes = 0;
    for (let step = 0; step < limits.metaTrashPurgeTransactionsPerCall; step++) {
      const result = await service.mutate({ cred: request.cred }, { ids: 0 }, (writer, ctx) =>
        purgeStep(writer, ctx, request.item),
      );
      removedInodes += result.removedInodes;
      if (result.done) return { removedInodes, done: true };
    }
    return { removedInodes, done: false };
  });
  table.on(m.setTrashPolicy, async (request) =>
    service.mutate(request, { ids: 0 }, (writer, ctx) => setPolicy(writer, ctx, request)),
  );
}
