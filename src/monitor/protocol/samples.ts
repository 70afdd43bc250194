/**
 * The wire form of a metric snapshot, validated by the collector at its edge: bounded in families,
 * samples, labels and string sizes, with finite values only, so a broken or hostile process cannot
 * make the collector hold more than one bounded snapshot per node.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { metricFamilyTypes } from '../../common/metrics/index.js';

const shortString = z.string().max(limits.monitorSnapshotStringBytesMax);
const metricName = z
  .string()
  .max(limits.monitorSnapshotStringBytesMax)
  .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'a Prometheus metric name');

export const metricSampleSchema = z.strictObject({
  name: metricName,
  labels: z
    .record(
      z
        .string()
        .max(limits.monitorSnapshotStringBytesMax)
        .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/),
      shortString,
    )
    .refine((labels) => Object.keys(labels).length <= limits.monitorSnapshotLabelsMax, {
      message: `at most ${limits.monitorSnapshotLabelsMax} labels`,
    }),
  value: z.number(),
});

export const metricFamilySchema = z.strictObject({
  name: metricName,
  help: z.string().max(4 * limits.monitorSnapshotStringBytesMax),
  type: z.enum(metricFamilyTypes),
  samples: z.array(metricSampleSchema).max(limits.monitorSnapshotSamplesMax),
});

export const metricFamiliesSchema = z
  .array(metricFamilySchema)
  .max(limits.monitorSnapshotFamiliesMax)
  .refine(
    (families) =>
      families.reduce((sum, family) => sum + family.samples.length, 0) <= limits.monitorSnapshotSamplesMax,
    { message: `at most ${limits.monitorSnapshotSamplesMax} samples in all` },
  );
