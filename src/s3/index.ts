/**
 * The S3 gateway (DESIGN §14): buckets and objects over the namespace through the client library,
 * SigV4 with the access keys meta keeps, its configuration, and its start and stop.
 */
export { s3ConfigSchema, type S3Config } from './config.js';
export { startS3Gateway, s3ClientId, type S3Gateway, type S3GatewayOptions } from './gateway.js';
