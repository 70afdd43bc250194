/** The monitor collector's protocol: the push method and the snapshot wire schema. */
export * as monitorMethods from './methods.js';
export { monitorServiceId, type PushRequest } from './methods.js';
export { metricFamiliesSchema, metricFamilySchema, metricSampleSchema } from './samples.js';
