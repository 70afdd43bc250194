/**
 * Method definitions, shared by the client and the server of a service: the ids on the wire, the
 * zod schemas both ends validate with, and whether a call may be retried. A service's protocol
 * module declares its methods once with `defineMethod`; both sides import the same objects.
 */
import type { z } from 'zod';
import { assert } from '../common/errors.js';

/**
 * One remote method. Schemas must accept their own output (no one-way transforms), because the
 * server encodes the handler's result and the client parses it again with `response`.
 */
export interface MethodDef<Req, Res> {
  readonly serviceId: number;
  readonly methodId: number;
  /** For logs and error messages, e.g. "mgmtd.heartbeat". */
  readonly name: string;
  readonly request: z.ZodType<Req>;
  readonly response: z.ZodType<Res>;
  /** True when running the call twice has the same effect as once; only such calls are retried. */
  readonly idempotent: boolean;
  /**
   * The handler checks the request payload against its checksum itself (the storage services'
   * chunk engine, from the block checksums it sums anyway): the server hands it over unchecked,
   * with CallContext.payloadCrc32c undefined, instead of summing the bytes first.
   */
  readonly payloadCheckedByHandler: boolean;
}

const idMax = 0xffff;

/** Declares a method; ids are u16 on the wire. */
export function defineMethod<ReqS extends z.ZodType, ResS extends z.ZodType>(def: {
  serviceId: number;
  methodId: number;
  name: string;
  request: ReqS;
  response: ResS;
  idempotent: boolean;
  payloadCheckedByHandler?: boolean;
}): MethodDef<z.output<ReqS>, z.output<ResS>> {
  assert(
    Number.isInteger(def.serviceId) && def.serviceId >= 0 && def.serviceId <= idMax,
    'serviceId is a u16',
  );
  assert(Number.isInteger(def.methodId) && def.methodId >= 0 && def.methodId <= idMax, 'methodId is a u16');
  assert(def.name.length > 0, 'a method has a name');
  return Object.freeze({
    serviceId: def.serviceId,
    methodId: def.methodId,
    name: def.name,
    request: def.request as z.ZodType<z.output<ReqS>>,
    response: def.response as z.ZodType<z.output<ResS>>,
    idempotent: def.idempotent,
    payloadCheckedByHandler: def.payloadCheckedByHandler ?? false,
  });
}

/** The key of a method in a server's registry: service and method id in one number. */
export function methodKey(serviceId: number, methodId: number): number {
  return serviceId * (idMax + 1) + methodId;
}
