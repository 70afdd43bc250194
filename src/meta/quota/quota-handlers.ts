/**
 * The handlers of the quota methods (protocol/quota.ts, methods 50–55). Setting and removing are
 * operator calls (root, and root squash does not apply, as for directory layouts); a new quota's
 * count runs here in bounded transactions after the one that sets it.
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import type { HandlerTable } from '../meta-handlers.js';
import type { MetaService } from '../meta-service.js';
import { metaMethods as m, type Credentials, type InodeId, type QuotaInfo } from '../protocol/index.js';
import { QuotaReader } from '../store/quota-records.js';
import {
  countStep,
  getQuota,
  listQuotas,
  quotaForStatFs,
  quotaInfo,
  removeQuota,
  setQuota,
} from './quota-admin.js';
import { grantRoom } from './quota-grants.js';

export function registerQuotaHandlers(service: MetaService, table: HandlerTable): void {
  table.on(m.quotaSet, async (request) => {
    const quota = await service.mutate(request, { ids: 1, squash: false }, (writer, ctx) =>
      setQuota(writer, ctx, request),
    );
    let done = !quota.counting;
    for (let step = 0; step < limits.metaQuotaCountTransactionsPerCall && !done; step++) {
      done = await service.mutate({ cred: request.cred }, { ids: 0, squash: false }, (writer, ctx) =>
        countStep(writer, ctx, quota.quotaId),
      );
    }
    return { quota: await currentInfo(service, request.cred, quota.quotaId), done };
  });
  table.on(m.quotaGet, async (request) =>
    service.read(request.cred, (reader, cred) => getQuota(reader, cred, request.at)),
  );
  table.on(m.quotaList, async (request) =>
    service.read(request.cred, (reader) => listQuotas(reader, request.cred, request)),
  );
  table.on(m.quotaRemove, async (request) => ({
    removed: await service.mutate(request, { ids: 0, squash: false }, (writer, ctx) =>
      removeQuota(writer, ctx, request.at),
    ),
  }));
  table.on(m.quotaGrant, async (request) => ({
    ceilingBytes: await service.mutate(request, { ids: 0 }, (writer, ctx) => grantRoom(writer, ctx, request)),
  }));
  table.on(m.quotaStatFs, async (request) => ({
    quota:
      (await service.read(request.cred, (reader) => quotaForStatFs(reader, request.ino, service.nowNs()))) ??
      null,
  }));
}

async function currentInfo(service: MetaService, cred: Credentials, quotaId: InodeId): Promise<QuotaInfo> {
  return service.read(cred, async (reader) => {
    const quota = await new QuotaReader(reader.transaction).quota(quotaId);
    if (quota === undefined) throw new FsError(MetaCode.NotFound, `quota ${quotaId} was removed meanwhile`);
    return quotaInfo(reader, quota, { withPath: true });
  });
}
