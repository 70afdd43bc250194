// Proves the S3 gateway serves the AWS SDK for JavaScript over real HTTP: buckets, objects with their metadata, ranges and conditions, copies, deletions with their directories tidied, presigned GET and PUT, and each operation's error codes; objects are the files a FUSE mount of the same cluster shows, and the reverse.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld } from '../helpers/processes.js';
import {
  addS3Key,
  sdkClient,
  startS3Gateway,
  writeS3GatewayConfig,
  type RunningS3Gateway,
} from '../helpers/s3-gateway.js';

const skipReason = fuseClusterSkipReason('the S3 SDK tests');

/** Runs `task` over `items`, `concurrency` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<unknown>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

describe.skipIf(skipReason !== undefined)('the S3 gateway through the AWS SDK', () => {
  const world = new TestWorld();
  let cluster: FuseCluster;
  let gateway: RunningS3Gateway;
  let s3: S3Client;

  beforeAll(async () => {
    cluster = await startFuseCluster(world);
    gateway = await startS3Gateway(cluster, writeS3GatewayConfig(cluster, { nodeId: 400 }));
    s3 = sdkClient(gateway, await addS3Key(cluster, { name: 'admin', uid: 0, gid: 0 }));
    await s3.send(new CreateBucketCommand({ Bucket: 'objects' }));
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  describe('buckets', () => {
    it('creates, lists, heads and deletes buckets, with their error codes', async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'scratch' }));
      await expect(s3.send(new CreateBucketCommand({ Bucket: 'scratch' }))).rejects.toMatchObject({
        name: 'BucketAlreadyOwnedByYou',
        $metadata: { httpStatusCode: 409 },
      });
      await expect(s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' }))).rejects.toMatchObject({
        name: 'InvalidBucketName',
      });
      const listed = await s3.send(new ListBucketsCommand({}));
      expect(listed.Buckets?.map((bucket) => bucket.Name)).toEqual(
        expect.arrayContaining(['objects', 'scratch']),
      );
      expect(listed.Buckets?.every((bucket) => bucket.CreationDate instanceof Date)).toBe(true);
      await s3.send(new HeadBucketCommand({ Bucket: 'scratch' }));
      const location = await s3.send(new GetBucketLocationCommand({ Bucket: 'scratch' }));
      expect(location.LocationConstraint ?? '').toBe('');
      await s3.send(new PutObjectCommand({ Bucket: 'scratch', Key: 'keep', Body: 'x' }));
      await expect(s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }))).rejects.toMatchObject({
        name: 'BucketNotEmpty',
        $metadata: { httpStatusCode: 409 },
      });
      await s3.send(new DeleteObjectCommand({ Bucket: 'scratch', Key: 'keep' }));
      await s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }));
      await expect(s3.send(new HeadBucketCommand({ Bucket: 'scratch' }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 404 },
      });
      await expect(s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }))).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
      // The gateway's own directories in the export root are never buckets.
      expect(listed.Buckets?.some((bucket) => bucket.Name?.startsWith('.'))).toBe(false);
    });
  });

  describe('objects', () => {
    it('stores 1 MiB byte for byte with its MD5 as ETag, visible through FUSE as the same file', async () => {
      const data = randomBytes(1024 * 1024);
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'objects', Key: 'dir/sub/data.bin', Body: data }),
      );
      expect(put.ETag).toBe(`"${md5(data)}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'dir/sub/data.bin' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
      expect(got.ETag).toBe(put.ETag);
      expect(got.ContentLength).toBe(data.length);
      expect(readFileSync(join(cluster.mountPoint, 'objects/dir/sub/data.bin')).equals(data)).toBe(true);
    });

    it('serves several large objects at once, each byte for byte, again and again', async () => {
      // The gateway reads into reused buffers and takes each back once the response wrote it.
      const objects = [0, 1, 2].map((index) => ({
        key: `large/${index}.bin`,
        data: randomBytes(9 * 1024 * 1024 + index),
      }));
      for (const { key, data } of objects)
        await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: key, Body: data }));
      for (let round = 0; round < 2; round += 1) {
        await Promise.all(
          objects.map(async ({ key, data }) => {
            const got = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: key }));
            expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data), key).toBe(true);
          }),
        );
      }
    });

    it('keeps Content-Type, standard headers and user metadata, and answers HEAD with them', async () => {
      await s3.send(
        new PutObjectCommand({
          Bucket: 'objects',
          Key: 'meta.txt',
          Body: 'metadata',
          ContentType: 'text/plain; charset=utf-8',
          CacheControl: 'max-age=60',
          ContentDisposition: 'attachment; filename="m.txt"',
          Metadata: { color: 'blue', 'owner-team': 'storage' },
        }),
      );
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'meta.txt' }));
      expect(head).toMatchObject({
        ContentType: 'text/plain; charset=utf-8',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="m.txt"',
        ContentLength: 8,
        ETag: `"${md5('metadata')}"`,
        Metadata: { color: 'blue', 'owner-team': 'storage' },
      });
      expect(head.LastModified).toBeInstanceOf(Date);
      const plain = await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'plain', Body: 'p' }));
      expect(plain.ETag).toBe(`"${md5('p')}"`);
    });

    it('serves ranges and refuses an unsatisfiable one with InvalidRange', async () => {
      const data = randomBytes(100_000);
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'ranges.bin', Body: data }));
      const cases: Array<[string, Buffer, string]> = [
        ['bytes=0-9', data.subarray(0, 10), 'bytes 0-9/100000'],
        ['bytes=99990-', data.subarray(99_990), 'bytes 99990-99999/100000'],
        ['bytes=-5', data.subarray(99_995), 'bytes 99995-99999/100000'],
        ['bytes=50000-50000', data.subarray(50_000, 50_001), 'bytes 50000-50000/100000'],
        ['bytes=99000-200000', data.subarray(99_000), 'bytes 99000-99999/100000'],
      ];
      for (const [range, expected, contentRange] of cases) {
        const got = await s3.send(
          new GetObjectCommand({ Bucket: 'objects', Key: 'ranges.bin', Range: range }),
        );
        expect(got.ContentRange, range).toBe(contentRange);
        expect(Buffer.from(await got.Body!.transformToByteArray()).equals(expected), range).toBe(true);
      }
      await expect(
        s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranges.bin', Range: 'bytes=100000-' })),
      ).rejects.toMatchObject({ name: 'InvalidRange', $metadata: { httpStatusCode: 416 } });
    });

    it('answers conditional GETs with 304 and 412', async () => {
      const put = await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'cond', Body: 'c' }));
      await expect(
        s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'cond', IfNoneMatch: put.ETag })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 304 } });
      await expect(
        s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'cond', IfMatch: '"0123"' })),
      ).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
      const matched = await s3.send(
        new GetObjectCommand({ Bucket: 'objects', Key: 'cond', IfMatch: put.ETag }),
      );
      expect(await matched.Body?.transformToString()).toBe('c');
    });

    it('answers NoSuchKey and NoSuchBucket for what is missing', async () => {
      await expect(
        s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'nothing/here' })),
      ).rejects.toMatchObject({
        name: 'NoSuchKey',
        $metadata: { httpStatusCode: 404 },
      });
      await expect(s3.send(new GetObjectCommand({ Bucket: 'no-bucket', Key: 'k' }))).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
      await expect(
        s3.send(new PutObjectCommand({ Bucket: 'no-bucket', Key: 'k', Body: 'x' })),
      ).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
      // A directory holding objects is no object itself.
      await expect(s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'dir' }))).rejects.toMatchObject({
        name: 'NoSuchKey',
      });
    });

    it('refuses a key below an object and an object over a directory of objects', async () => {
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'leaf', Body: 'l' }));
      await expect(
        s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'leaf/below', Body: 'x' })),
      ).rejects.toMatchObject({
        name: 'ParentIsObject',
        $metadata: { httpStatusCode: 409 },
      });
      await expect(
        s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'dir', Body: 'x' })),
      ).rejects.toMatchObject({
        name: 'ObjectIsDirectory',
        $metadata: { httpStatusCode: 409 },
      });
    });

    it('refuses a body whose Content-MD5 differs with BadDigest, leaving nothing', async () => {
      await expect(
        s3.send(
          new PutObjectCommand({
            Bucket: 'objects',
            Key: 'bad-digest',
            Body: 'actual body',
            ContentMD5: createHash('md5').update('another body').digest('base64'),
          }),
        ),
      ).rejects.toMatchObject({ name: 'BadDigest' });
      expect(existsSync(join(cluster.mountPoint, 'objects/bad-digest'))).toBe(false);
    });

    it('makes an empty directory with a key ending in "/" and shows it as an empty object', async () => {
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'folder/inner/', Body: Buffer.alloc(0) }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'folder/inner/' }));
      expect(head.ContentLength).toBe(0);
      expect(head.ETag).toBe(`"${md5('')}"`);
      await s3.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'folder/inner/' }));
      expect(existsSync(join(cluster.mountPoint, 'objects/folder'))).toBe(false);
    });

    it('serves a file written through FUSE, with an ETag that is no MD5', async () => {
      mkdirSync(join(cluster.mountPoint, 'objects/from-fuse'), { recursive: true });
      const data = randomBytes(300_000);
      writeFileSync(join(cluster.mountPoint, 'objects/from-fuse/file.bin'), data);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'from-fuse/file.bin' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
      expect(got.ETag).toMatch(/^"[0-9a-f]{32}-1"$/);
      // Rewritten through FUSE, an object uploaded through S3 no longer claims its old MD5.
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'from-fuse/rewritten', Body: 'first' }));
      writeFileSync(join(cluster.mountPoint, 'objects/from-fuse/rewritten'), 'second version');
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'from-fuse/rewritten' }));
      expect(head.ContentLength).toBe('second version'.length);
      expect(head.ETag).not.toBe(`"${md5('first')}"`);
    });
  });

  describe('copies and deletions', () => {
    it('copies with the source metadata or replaced metadata, and onto itself to change metadata', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await s3.send(
        new PutObjectCommand({
          Bucket: 'objects',
          Key: 'copy/source',
          Body: data,
          ContentType: 'image/png',
          Metadata: { a: '1' },
        }),
      );
      const copied = await s3.send(
        new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/kept', CopySource: 'objects/copy/source' }),
      );
      expect(copied.CopyObjectResult?.ETag).toBe(`"${md5(data)}"`);
      const kept = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'copy/kept' }));
      expect(kept.ContentType).toBe('image/png');
      expect(kept.Metadata).toEqual({ a: '1' });
      expect(Buffer.from(await kept.Body!.transformToByteArray()).equals(data)).toBe(true);
      await s3.send(
        new CopyObjectCommand({
          Bucket: 'objects',
          Key: 'copy/replaced',
          CopySource: encodeURI('/objects/copy/source'),
          MetadataDirective: 'REPLACE',
          ContentType: 'text/plain',
          Metadata: { b: '2' },
        }),
      );
      const replaced = await s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/replaced' }));
      expect(replaced).toMatchObject({
        ContentType: 'text/plain',
        Metadata: { b: '2' },
        ContentLength: data.length,
      });
      await expect(
        s3.send(
          new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/source', CopySource: 'objects/copy/source' }),
        ),
      ).rejects.toMatchObject({ name: 'InvalidRequest' });
      await s3.send(
        new CopyObjectCommand({
          Bucket: 'objects',
          Key: 'copy/source',
          CopySource: 'objects/copy/source',
          MetadataDirective: 'REPLACE',
          Metadata: { c: '3' },
        }),
      );
      const self = await s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/source' }));
      expect(self.Metadata).toEqual({ c: '3' });
      expect(self.ETag).toBe(`"${md5(data)}"`);
      await expect(
        s3.send(
          new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/x', CopySource: 'objects/copy/missing' }),
        ),
      ).rejects.toMatchObject({ name: 'NoSuchKey' });
      await expect(
        s3.send(
          new CopyObjectCommand({
            Bucket: 'objects',
            Key: 'copy/x',
            CopySource: 'objects/copy/source',
            CopySourceIfMatch: '"feed"',
          }),
        ),
      ).rejects.toMatchObject({ name: 'PreconditionFailed' });
    });

    it('copies a large object by a clone inside the cluster, over an existing object, keeping S3 metadata', async () => {
      const data = randomBytes(16 * 1024 * 1024 + 5);
      await s3.send(
        new PutObjectCommand({
          Bucket: 'objects',
          Key: 'clone/source',
          Body: data,
          ContentType: 'application/x-big',
          Metadata: { m: 'v' },
        }),
      );
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'clone/copy', Body: 'an older object' }));
      const copied = await s3.send(
        new CopyObjectCommand({ Bucket: 'objects', Key: 'clone/copy', CopySource: 'objects/clone/source' }),
      );
      expect(copied.CopyObjectResult?.ETag).toBe(`"${md5(data)}"`);
      const line = await gateway.process.waitForLog(
        (entry) => entry['msg'] === 'object copied' && entry['target'] === '/objects/clone/copy',
        5_000,
      );
      expect(line, JSON.stringify(line)).toMatchObject({ method: 'clone', bytes: String(data.length) });
      const copy = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'clone/copy' }));
      expect(copy).toMatchObject({
        ContentType: 'application/x-big',
        Metadata: { m: 'v' },
        ContentLength: data.length,
        ETag: `"${md5(data)}"`,
      });
      expect(Buffer.from(await copy.Body!.transformToByteArray()).equals(data)).toBe(true);
      // The copy is a file of its own: writing it leaves the source as it was.
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'clone/copy', Body: 'replaced' }));
      const source = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'clone/source' }));
      expect(Buffer.from(await source.Body!.transformToByteArray()).equals(data)).toBe(true);
    });

    it("clones as the key's user: refused a source it may not read, the copy its own", async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'shared' }));
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'clone/open', Body: 'anyone reads' }));
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'clone/secret', Body: 'root only' }));
      const client = await cluster.client();
      try {
        await client.chmod('/shared', 0o777);
        await client.chmod('/objects/clone/secret', 0o600);
      } finally {
        await client.close();
      }
      const user = sdkClient(gateway, await addS3Key(cluster, { name: 'copier', uid: 4321, gid: 4321 }));
      try {
        await expect(
          user.send(
            new CopyObjectCommand({ Bucket: 'shared', Key: 's', CopySource: 'objects/clone/secret' }),
          ),
        ).rejects.toMatchObject({ name: 'AccessDenied' });
        await expect(
          user.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'o', CopySource: 'objects/clone/open' })),
        ).rejects.toMatchObject({ name: 'AccessDenied' });
        await user.send(
          new CopyObjectCommand({ Bucket: 'shared', Key: 'o', CopySource: 'objects/clone/open' }),
        );
      } finally {
        user.destroy();
      }
      const owner = await cluster.client();
      try {
        expect(await owner.stat('/shared/o')).toMatchObject({ uid: 4321, gid: 4321 });
        expect((await owner.readFile('/shared/o')).toString()).toBe('anyone reads');
        // Nothing of the refused copy is left in staging.
        expect((await owner.readdir('/.s3-staging')).map((entry) => entry.name)).toEqual([]);
      } finally {
        await owner.close();
      }
    });

    it('copies byte by byte a source whose chunk size no upload has, with its MD5 as ETag', async () => {
      const client = await cluster.client();
      const data = randomBytes(3 * 512 * 1024 + 9);
      try {
        await client.mkdir('/objects/odd-layout');
        await client.setLayout('/objects/odd-layout', { chunkSizeBytes: 512 * 1024 });
        await client.writeFile('/objects/odd-layout/file', data);
      } finally {
        await client.close();
      }
      const copied = await s3.send(
        new CopyObjectCommand({
          Bucket: 'objects',
          Key: 'odd-copy',
          CopySource: 'objects/odd-layout/file',
        }),
      );
      expect(copied.CopyObjectResult?.ETag).toBe(`"${md5(data)}"`);
      const line = await gateway.process.waitForLog(
        (entry) => entry['msg'] === 'object copied' && entry['target'] === '/objects/odd-copy',
        5_000,
      );
      expect(line).toMatchObject({ method: 'bytes', reason: expect.stringMatching(/chunk size/) as unknown });
      const copy = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'odd-copy' }));
      expect(Buffer.from(await copy.Body!.transformToByteArray()).equals(data)).toBe(true);
    });

    it('deletes objects (a missing one too) and the directories they leave empty', async () => {
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'tidy/a/b/c', Body: 'c' }));
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'tidy/other', Body: 'o' }));
      await s3.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'tidy/a/b/c' }));
      await s3.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'tidy/a/b/c' }));
      expect(existsSync(join(cluster.mountPoint, 'objects/tidy/a'))).toBe(false);
      expect(existsSync(join(cluster.mountPoint, 'objects/tidy/other'))).toBe(true);
      await expect(s3.send(new DeleteObjectCommand({ Bucket: 'no-bucket', Key: 'k' }))).rejects.toMatchObject(
        {
          name: 'NoSuchBucket',
        },
      );
    });

    it('deletes many objects at once, reporting each', async () => {
      const keys = Array.from({ length: 30 }, (_, index) => `many/${index % 3}/key-${index}`);
      await Promise.all(
        keys.map((Key) => s3.send(new PutObjectCommand({ Bucket: 'objects', Key, Body: Key }))),
      );
      const result = await s3.send(
        new DeleteObjectsCommand({
          Bucket: 'objects',
          Delete: { Objects: [...keys, 'many/missing', 'bad//key'].map((Key) => ({ Key })) },
        }),
      );
      expect(result.Deleted?.map((entry) => entry.Key).sort()).toEqual([...keys, 'many/missing'].sort());
      expect(result.Errors).toEqual([expect.objectContaining({ Key: 'bad//key', Code: 'InvalidArgument' })]);
      expect(existsSync(join(cluster.mountPoint, 'objects/many'))).toBe(false);
      const quiet = await s3.send(
        new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'x' }], Quiet: true } }),
      );
      expect(quiet.Deleted ?? []).toEqual([]);
    });
  });

  describe('listings', () => {
    const pageKeys = Array.from({ length: 2500 }, (_, index) => `paged/k-${String(index).padStart(4, '0')}`);

    beforeAll(async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
      await forEachLimited(pageKeys, 32, (Key) =>
        s3.send(new PutObjectCommand({ Bucket: 'listing', Key, Body: Key })),
      );
      const tree = [
        'tree/a/1',
        'tree/a/2',
        'tree/b/1',
        'tree/c',
        'tree/d-x',
        'tree/d.txt',
        'tree/d/e',
        'tree/d0',
      ];
      await forEachLimited(tree, 8, (Key) =>
        s3.send(new PutObjectCommand({ Bucket: 'listing', Key, Body: 'x' })),
      );
      await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: 'tree/empty/', Body: Buffer.alloc(0) }));
      await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: 'odd/a b+c&d.txt', Body: 'odd' }));
    }, 120_000);

    it('pages through 2,500 keys with continuation tokens, in order, with sizes and ETags', async () => {
      const seen: string[] = [];
      let pages = 0;
      for await (const page of paginateListObjectsV2(
        { client: s3, pageSize: 1000 },
        { Bucket: 'listing', Prefix: 'paged/' },
      )) {
        pages += 1;
        expect(page.KeyCount).toBe(page.Contents?.length);
        for (const object of page.Contents ?? []) {
          expect(object.Size).toBe(object.Key?.length);
          expect(object.ETag).toBe(`"${md5(object.Key ?? '')}"`);
          seen.push(object.Key ?? '');
        }
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(pageKeys);
      const small = await s3.send(
        new ListObjectsV2Command({
          Bucket: 'listing',
          Prefix: 'paged/',
          MaxKeys: 7,
          StartAfter: 'paged/k-2490',
        }),
      );
      expect(small.Contents?.map((object) => object.Key)).toEqual(pageKeys.slice(2491, 2498));
      expect(small.IsTruncated).toBe(true);
    });

    it('groups keys by a delimiter into common prefixes, in S3 key order', async () => {
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'tree/', Delimiter: '/' }),
      );
      expect(listed.CommonPrefixes?.map((entry) => entry.Prefix)).toEqual([
        'tree/a/',
        'tree/b/',
        'tree/d/',
        'tree/empty/',
      ]);
      expect(listed.Contents?.map((object) => object.Key)).toEqual([
        'tree/c',
        'tree/d-x',
        'tree/d.txt',
        'tree/d0',
      ]);
      const all = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'tree/' }));
      expect(all.Contents?.map((object) => object.Key)).toEqual([
        'tree/a/1',
        'tree/a/2',
        'tree/b/1',
        'tree/c',
        'tree/d-x',
        'tree/d.txt',
        'tree/d/e',
        'tree/d0',
        'tree/empty/',
      ]);
      const partial = await s3.send(
        new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'tree/d', Delimiter: '/' }),
      );
      expect(partial.CommonPrefixes?.map((entry) => entry.Prefix)).toEqual(['tree/d/']);
      expect(partial.Contents?.map((object) => object.Key)).toEqual(['tree/d-x', 'tree/d.txt', 'tree/d0']);
      const top = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }));
      expect(top.CommonPrefixes?.map((entry) => entry.Prefix)).toEqual(['odd/', 'paged/', 'tree/']);
    });

    it('lists with v1 markers, URL-encoded keys and a missing bucket', async () => {
      const first = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Prefix: 'tree/', MaxKeys: 3 }));
      expect(first.Contents?.map((object) => object.Key)).toEqual(['tree/a/1', 'tree/a/2', 'tree/b/1']);
      expect(first.IsTruncated).toBe(true);
      const second = await s3.send(
        new ListObjectsCommand({ Bucket: 'listing', Prefix: 'tree/', MaxKeys: 3, Marker: first.NextMarker }),
      );
      expect(second.Contents?.map((object) => object.Key)).toEqual(['tree/c', 'tree/d-x', 'tree/d.txt']);
      const encoded = await s3.send(
        new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'odd/', EncodingType: 'url' }),
      );
      expect(encoded.Contents?.map((object) => decodeURIComponent(object.Key ?? ''))).toEqual([
        'odd/a b+c&d.txt',
      ]);
      const plain = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'odd/' }));
      expect(plain.Contents?.map((object) => object.Key)).toEqual(['odd/a b+c&d.txt']);
      await expect(s3.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket' }))).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
      const none = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'absent/' }));
      expect(none.KeyCount).toBe(0);
      expect(none.Contents).toBeUndefined();
    });
  });

  describe('multipart uploads', () => {
    const mib = 1024 * 1024;

    /** Uploads `parts` (number → bytes) in the order given, `concurrently` at once; their ETags by number. */
    async function uploadParts(
      Key: string,
      UploadId: string,
      parts: Array<[number, Buffer]>,
    ): Promise<Map<number, string>> {
      const etags = new Map<number, string>();
      for (const [PartNumber, Body] of parts) {
        const part = await s3.send(
          new UploadPartCommand({ Bucket: 'objects', Key, UploadId, PartNumber, Body }),
        );
        expect(part.ETag).toBe(`"${md5(Body)}"`);
        etags.set(PartNumber, part.ETag ?? '');
      }
      return etags;
    }

    function completion(etags: Map<number, string>, numbers = [...etags.keys()].sort((a, b) => a - b)) {
      return { Parts: numbers.map((PartNumber) => ({ PartNumber, ETag: etags.get(PartNumber) })) };
    }

    it('assembles 5 parts uploaded out of order, with the multipart ETag, lists them, and leaves no upload', async () => {
      const Key = 'multi/five.bin';
      const parts = [1, 2, 3, 4, 5].map((number): [number, Buffer] => [
        number,
        randomBytes(number === 5 ? 1234 : 5 * mib),
      ]);
      const created = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: 'objects',
          Key,
          ContentType: 'application/x-tar',
          Metadata: { m: 'p' },
        }),
      );
      const UploadId = created.UploadId ?? '';
      const order = [parts[1], parts[4], parts[0], parts[3], parts[2]] as Array<[number, Buffer]>;
      const etags = await uploadParts(Key, UploadId, order);
      const listed = await s3.send(new ListPartsCommand({ Bucket: 'objects', Key, UploadId }));
      expect(listed.Parts?.map((part) => [part.PartNumber, part.Size])).toEqual(
        parts.map(([n, b]) => [n, b.length]),
      );
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'objects', Prefix: 'multi/' }));
      expect(uploads.Uploads?.map((upload) => [upload.Key, upload.UploadId])).toEqual([[Key, UploadId]]);
      await expect(s3.send(new HeadObjectCommand({ Bucket: 'objects', Key }))).rejects.toMatchObject({
        name: 'NotFound',
      });
      // The parts went straight into the file that becomes the object: completing copies nothing.
      const assembling = statSync(join(cluster.mountPoint, '.s3-uploads/objects', UploadId, 'data')).ino;
      const done = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'objects',
          Key,
          UploadId,
          MultipartUpload: completion(etags),
        }),
      );
      const whole = Buffer.concat(parts.map(([, body]) => body));
      const expectedEtag = md5(Buffer.concat(parts.map(([, body]) => Buffer.from(md5(body), 'hex'))));
      expect(done.ETag).toBe(`"${expectedEtag}-5"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key }));
      expect(got.ETag).toBe(done.ETag);
      expect(got.ContentType).toBe('application/x-tar');
      expect(got.Metadata).toEqual({ m: 'p' });
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(whole)).toBe(true);
      expect(readFileSync(join(cluster.mountPoint, 'objects', Key)).equals(whole)).toBe(true);
      expect(statSync(join(cluster.mountPoint, 'objects', Key)).ino).toBe(assembling);
      expect(statSync(join(cluster.mountPoint, 'objects', Key)).mode & 0o7777).toBe(0o644);
      const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'objects' }));
      expect(after.Uploads ?? []).toEqual([]);
    });

    it('moves parts that are not where they end up, and assembles afresh when a move could overwrite', async () => {
      // Part 2 (6 MiB) sets the stride; part 1 (5 MiB) sits at 0 and part 2 moves down to 5 MiB.
      const first = [randomBytes(5 * mib), randomBytes(6 * mib)];
      const one = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key: 'multi/moved' }));
      const oneEtags = await uploadParts('multi/moved', one.UploadId ?? '', [
        [2, first[1] as Buffer],
        [1, first[0] as Buffer],
      ]);
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'objects',
          Key: 'multi/moved',
          UploadId: one.UploadId,
          MultipartUpload: completion(oneEtags),
        }),
      );
      expect(readFileSync(join(cluster.mountPoint, 'objects/multi/moved')).equals(Buffer.concat(first))).toBe(
        true,
      );
      // Part 2 (5 MiB) sets the stride; part 1 (6 MiB) is a file of its own, and putting it first
      // would overwrite part 2 before it is read: assembled afresh.
      const second = [randomBytes(6 * mib), randomBytes(5 * mib)];
      const two = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key: 'multi/afresh' }));
      const twoEtags = await uploadParts('multi/afresh', two.UploadId ?? '', [
        [2, second[1] as Buffer],
        [1, second[0] as Buffer],
      ]);
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'objects',
          Key: 'multi/afresh',
          UploadId: two.UploadId,
          MultipartUpload: completion(twoEtags),
        }),
      );
      expect(
        readFileSync(join(cluster.mountPoint, 'objects/multi/afresh')).equals(Buffer.concat(second)),
      ).toBe(true);
    });

    it('takes the last upload of a part number, copies parts from objects, and skips unlisted parts', async () => {
      const source = randomBytes(7 * mib);
      await s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'multi/source', Body: source }));
      const created = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: 'objects', Key: 'multi/mixed' }),
      );
      const UploadId = created.UploadId ?? '';
      const replaced = randomBytes(5 * mib);
      const etags = await uploadParts('multi/mixed', UploadId, [
        [1, randomBytes(5 * mib)],
        [1, replaced],
        [3, randomBytes(5 * mib)],
      ]);
      const copied = await s3.send(
        new UploadPartCopyCommand({
          Bucket: 'objects',
          Key: 'multi/mixed',
          UploadId,
          PartNumber: 2,
          CopySource: 'objects/multi/source',
          CopySourceRange: `bytes=${mib}-${6 * mib - 1}`,
        }),
      );
      expect(copied.CopyPartResult?.ETag).toBe(`"${md5(source.subarray(mib, 6 * mib))}"`);
      etags.set(2, copied.CopyPartResult?.ETag ?? '');
      const tail = randomBytes(10);
      const tailEtags = await uploadParts('multi/mixed', UploadId, [[4, tail]]);
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'objects',
          Key: 'multi/mixed',
          UploadId,
          MultipartUpload: completion(new Map([...etags, ...tailEtags]), [1, 2, 4]),
        }),
      );
      const expected = Buffer.concat([replaced, source.subarray(mib, 6 * mib), tail]);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'multi/mixed' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(expected)).toBe(true);
    });

    it('refuses wrong ETags, disorder, small parts and unknown uploads; an abort leaves nothing', async () => {
      const Key = 'multi/refused';
      const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key }));
      const UploadId = created.UploadId ?? '';
      const etags = await uploadParts(Key, UploadId, [
        [1, randomBytes(1000)],
        [2, randomBytes(1000)],
      ]);
      const complete = (Parts: Array<{ PartNumber: number; ETag: string | undefined }>) =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'objects',
            Key,
            UploadId,
            MultipartUpload: { Parts },
          }),
        );
      await expect(
        complete([{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }]),
      ).rejects.toMatchObject({
        name: 'InvalidPart',
      });
      await expect(
        complete([
          { PartNumber: 2, ETag: etags.get(2) },
          { PartNumber: 1, ETag: etags.get(1) },
        ]),
      ).rejects.toMatchObject({ name: 'InvalidPartOrder' });
      await expect(
        complete([
          { PartNumber: 1, ETag: etags.get(1) },
          { PartNumber: 2, ETag: etags.get(2) },
        ]),
      ).rejects.toMatchObject({ name: 'EntityTooSmall' });
      await s3.send(new AbortMultipartUploadCommand({ Bucket: 'objects', Key, UploadId }));
      await expect(s3.send(new ListPartsCommand({ Bucket: 'objects', Key, UploadId }))).rejects.toMatchObject(
        {
          name: 'NoSuchUpload',
        },
      );
      await expect(
        s3.send(new UploadPartCommand({ Bucket: 'objects', Key, UploadId, PartNumber: 3, Body: 'late' })),
      ).rejects.toMatchObject({ name: 'NoSuchUpload' });
      await expect(
        s3.send(new AbortMultipartUploadCommand({ Bucket: 'objects', Key, UploadId })),
      ).rejects.toMatchObject({
        name: 'NoSuchUpload',
      });
      await expect(s3.send(new HeadObjectCommand({ Bucket: 'objects', Key }))).rejects.toMatchObject({
        name: 'NotFound',
      });
      const uploadsDirectory = join(cluster.mountPoint, '.s3-uploads/objects');
      expect(readdirSync(uploadsDirectory).filter((name) => name === UploadId)).toEqual([]);
      expect(readdirSync(join(cluster.mountPoint, '.s3-staging'))).toEqual([]);
    });
  });

  describe('several gateways', () => {
    it('continue each other’s listings and multipart uploads, with nothing kept in any one', async () => {
      const second = await startS3Gateway(cluster, writeS3GatewayConfig(cluster, { nodeId: 402 }));
      const other = sdkClient(second, await addS3Key(cluster, { name: 'other-gateway', uid: 0, gid: 0 }));
      try {
        const first = await s3.send(
          new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'paged/', MaxKeys: 600 }),
        );
        const rest = await other.send(
          new ListObjectsV2Command({
            Bucket: 'listing',
            Prefix: 'paged/',
            MaxKeys: 600,
            ContinuationToken: first.NextContinuationToken,
          }),
        );
        expect(rest.Contents?.[0]?.Key).toBe('paged/k-0600');
        const Key = 'multi/across';
        const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key }));
        const UploadId = created.UploadId ?? '';
        const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(77)];
        const etags = await Promise.all(
          parts.map((Body, index) =>
            (index % 2 === 0 ? s3 : other).send(
              new UploadPartCommand({ Bucket: 'objects', Key, UploadId, PartNumber: index + 1, Body }),
            ),
          ),
        );
        const listed = await other.send(new ListPartsCommand({ Bucket: 'objects', Key, UploadId }));
        expect(listed.Parts?.map((part) => part.PartNumber)).toEqual([1, 2, 3]);
        await other.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'objects',
            Key,
            UploadId,
            MultipartUpload: {
              Parts: etags.map((part, index) => ({ PartNumber: index + 1, ETag: part.ETag })),
            },
          }),
        );
        const got = await s3.send(new GetObjectCommand({ Bucket: 'objects', Key }));
        expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(parts))).toBe(true);
      } finally {
        other.destroy();
      }
    });
  });

  describe('presigned URLs', () => {
    it('GETs and PUTs through presigned URLs and refuses a tampered one', async () => {
      const put = await getSignedUrl(
        s3,
        new PutObjectCommand({ Bucket: 'objects', Key: 'presigned/one.txt' }),
        {
          expiresIn: 300,
        },
      );
      const stored = await fetch(put, { method: 'PUT', body: 'through a presigned PUT' });
      expect(stored.status).toBe(200);
      const get = await getSignedUrl(
        s3,
        new GetObjectCommand({ Bucket: 'objects', Key: 'presigned/one.txt' }),
        {
          expiresIn: 300,
        },
      );
      const fetched = await fetch(get);
      expect(fetched.status).toBe(200);
      expect(await fetched.text()).toBe('through a presigned PUT');
      const tampered = await fetch(get.replace('presigned/one.txt', 'presigned/two.txt'));
      expect(tampered.status).toBe(403);
      expect(await tampered.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
      const unsigned = await fetch(`${gateway.endpoint}/objects/presigned/one.txt`);
      expect(unsigned.status).toBe(403);
      expect(await unsigned.text()).toContain('<Code>AccessDenied</Code>');
    });
  });
});
