// Proves the S3 gateway refuses what it must over real HTTP, writing nothing: a wrong signature, a tampered aws-chunked chunk, an expired presigned URL, a request 20 minutes off the clock, a key whose user lacks permission on the directory (while the namespace's permissions let the same user write where they may, as its own uid), malformed XML, an absurd Content-Length, keys with "..", NUL or over 1,024 bytes, and a client that disconnects mid-upload; anonymous requests only where the configuration allows reads; HTTPS with a configured certificate; the gateway's own /metrics and a clean stop.
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationHeader,
  chunkStringToSign,
  formatAmzDate,
  presignedQuery,
  sha256Hex,
  sign,
  signingKey,
  uriEncode,
} from '../../../src/s3/sigv4.js';
import {
  fuseClusterSkipReason,
  isRoot,
  startFuseCluster,
  type FuseCluster,
} from '../helpers/fuse-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import {
  addS3Key,
  runAdmin,
  sdkClient,
  startS3Gateway,
  testRegion,
  writeS3GatewayConfig,
  type RunningS3Gateway,
  type TestKey,
} from '../helpers/s3-gateway.js';

const skipReason =
  fuseClusterSkipReason('the S3 security tests') ?? (isRoot ? undefined : 'needs root for chown');

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** The <Code> of an error document. */
function codeOf(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}

describe.skipIf(skipReason !== undefined)('what the S3 gateway refuses', () => {
  const world = new TestWorld();
  let cluster: FuseCluster;
  let gateway: RunningS3Gateway;
  let rootKey: TestKey;
  let userKey: TestKey;
  let s3: S3Client;

  beforeAll(async () => {
    cluster = await startFuseCluster(world);
    gateway = await startS3Gateway(cluster, writeS3GatewayConfig(cluster, { nodeId: 400 }));
    rootKey = await addS3Key(cluster, { name: 'root', uid: 0, gid: 0 });
    userKey = await addS3Key(cluster, { name: 'user', uid: 1000, gid: 1000, groups: [2000] });
    s3 = sdkClient(gateway, rootKey);
    await s3.send(new CreateBucketCommand({ Bucket: 'guarded' }));
    await s3.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'readable', Body: 'for everyone' }));
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  /** Sends a request signed with `key` at `timeMs` (now by default); `raw` paths go out as given. */
  function signed(options: {
    method: string;
    path: string;
    query?: Array<[string, string]>;
    headers?: Record<string, string>;
    body?: Buffer;
    key?: TestKey;
    timeMs?: number;
    payloadHash?: string;
  }): Promise<RawResponse> {
    const key = options.key ?? rootKey;
    const timeMs = options.timeMs ?? Date.now();
    const body = options.body ?? Buffer.alloc(0);
    const payloadHash = options.payloadHash ?? sha256Hex(body);
    const headers: Record<string, string> = {
      host: `127.0.0.1:${gateway.port}`,
      'x-amz-date': formatAmzDate(timeMs),
      'x-amz-content-sha256': payloadHash,
      ...options.headers,
    };
    const authorization = authorizationHeader(
      { method: options.method, path: options.path, query: options.query ?? [], headers, payloadHash },
      { ...key, region: testRegion, timeMs },
    );
    const query = (options.query ?? []).map(
      ([name, value]) => `${uriEncode(name, false)}=${uriEncode(value, false)}`,
    );
    return send({
      method: options.method,
      path: options.path + (query.length > 0 ? `?${query.join('&')}` : ''),
      headers: { ...headers, authorization, 'content-length': String(body.length) },
      body,
    });
  }

  function send(options: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: Buffer;
  }): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: gateway.port,
          method: options.method,
          path: options.path,
          headers: options.headers,
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
          );
        },
      );
      request.on('error', reject);
      request.end(options.body);
    });
  }

  const onMount = (...parts: string[]) => join(cluster.mountPoint, ...parts);

  it('refuses a wrong signature and writes nothing', async () => {
    const wrong = sdkClient(gateway, { ...rootKey, secretAccessKey: 'x'.repeat(40) });
    await expect(
      wrong.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'forged', Body: 'no' })),
    ).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    wrong.destroy();
    const unknown = sdkClient(gateway, {
      accessKeyId: '3FSNOSUCHKEY00000000',
      secretAccessKey: rootKey.secretAccessKey,
    });
    await expect(
      unknown.send(new GetObjectCommand({ Bucket: 'guarded', Key: 'readable' })),
    ).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });
    unknown.destroy();
    expect(existsSync(onMount('guarded/forged'))).toBe(false);
  });

  it('checks aws-chunked chunk signatures: a valid upload is stored, a tampered chunk stores nothing', async () => {
    const timeMs = Date.now();
    const amzDate = formatAmzDate(timeMs);
    const scope = { date: amzDate.slice(0, 8), region: testRegion, service: 's3' };
    const chunks = [randomBytes(65_536), randomBytes(1000)];
    const decoded = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const upload = async (key: string, tamper: boolean): Promise<RawResponse> => {
      const headers: Record<string, string> = {
        host: `127.0.0.1:${gateway.port}`,
        'x-amz-date': amzDate,
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(decoded),
      };
      const authorization = authorizationHeader(
        {
          method: 'PUT',
          path: `/guarded/${key}`,
          headers,
          payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        },
        { ...rootKey, region: testRegion, timeMs },
      );
      let previous = /Signature=([0-9a-f]{64})/.exec(authorization)?.[1] ?? '';
      const signingKeyOf = signingKey(rootKey.secretAccessKey, scope);
      const parts: Buffer[] = [];
      for (const chunk of [...chunks, Buffer.alloc(0)]) {
        previous = sign(
          signingKeyOf,
          chunkStringToSign({ amzDate, scope, previousSignature: previous, chunkSha256: sha256Hex(chunk) }),
        );
        const data =
          tamper && chunk.length === 1000 ? Buffer.concat([chunk.subarray(1), Buffer.from('!')]) : chunk;
        parts.push(
          Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`),
          data,
          Buffer.from('\r\n'),
        );
      }
      const body = Buffer.concat(parts);
      return send({
        method: 'PUT',
        path: `/guarded/${key}`,
        headers: { ...headers, authorization, 'content-length': String(body.length) },
        body,
      });
    };
    const good = await upload('chunked', false);
    expect(good.status, good.body).toBe(200);
    expect(good.headers['etag']).toBe(`"${createHash('md5').update(Buffer.concat(chunks)).digest('hex')}"`);
    const bad = await upload('chunked-tampered', true);
    expect(bad.status).toBe(403);
    expect(codeOf(bad.body)).toBe('SignatureDoesNotMatch');
    expect(existsSync(onMount('guarded/chunked-tampered'))).toBe(false);
  });

  it('refuses an expired presigned URL, for GET and PUT', async () => {
    const presign = (method: string, key: string, timeMs: number, expiresSeconds: number) => {
      const query = presignedQuery(
        { method, path: `/guarded/${key}`, headers: { host: `127.0.0.1:${gateway.port}` } },
        { ...rootKey, region: testRegion, timeMs, expiresSeconds },
      );
      return `${gateway.endpoint}/guarded/${key}?${query.map(([name, value]) => `${name}=${uriEncode(value, false)}`).join('&')}`;
    };
    const expiredGet = await fetch(presign('GET', 'readable', Date.now() - 2 * 3_600_000, 3600));
    expect(expiredGet.status).toBe(403);
    const text = await expiredGet.text();
    expect(codeOf(text)).toBe('AccessDenied');
    expect(text).toContain('Request has expired');
    const expiredPut = await fetch(presign('PUT', 'late', Date.now() - 120_000, 60), {
      method: 'PUT',
      body: 'late',
    });
    expect(expiredPut.status).toBe(403);
    expect(existsSync(onMount('guarded/late'))).toBe(false);
    const valid = await fetch(presign('GET', 'readable', Date.now(), 60));
    expect(await valid.text()).toBe('for everyone');
  });

  it('refuses requests 20 minutes off the clock with RequestTimeTooSkewed, either way', async () => {
    for (const offset of [-20 * 60_000, 20 * 60_000]) {
      const response = await signed({
        method: 'PUT',
        path: '/guarded/skewed',
        body: Buffer.from('skewed'),
        timeMs: Date.now() + offset,
      });
      expect(response.status).toBe(403);
      expect(codeOf(response.body)).toBe('RequestTimeTooSkewed');
    }
    expect(existsSync(onMount('guarded/skewed'))).toBe(false);
  });

  it("lets the namespace's permissions decide: a user without write or read access is refused", async () => {
    const user = sdkClient(gateway, userKey);
    try {
      await expect(
        user.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'intruder', Body: 'x'.repeat(100_000) })),
      ).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      await expect(user.send(new CreateBucketCommand({ Bucket: 'users-bucket' }))).rejects.toMatchObject({
        name: 'AccessDenied',
      });
      await expect(
        user.send(new CreateMultipartUploadCommand({ Bucket: 'guarded', Key: 'intruder' })),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      // Readable by others: the user reads it; a file only its owner reads: refused.
      const readable = await user.send(new GetObjectCommand({ Bucket: 'guarded', Key: 'readable' }));
      expect(await readable.Body?.transformToString()).toBe('for everyone');
      writeFileSync(onMount('guarded/secret'), 'root only');
      chmodSync(onMount('guarded/secret'), 0o600);
      await expect(
        user.send(new GetObjectCommand({ Bucket: 'guarded', Key: 'secret' })),
      ).rejects.toMatchObject({
        name: 'AccessDenied',
      });
      mkdirSync(onMount('guarded/private'), { mode: 0o700 });
      writeFileSync(onMount('guarded/private/inside'), 'x');
      await expect(
        user.send(new ListObjectsV2Command({ Bucket: 'guarded', Prefix: 'private/' })),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      expect(existsSync(onMount('guarded/intruder'))).toBe(false);
      // A directory the user owns (or its group may write): the user writes there, as itself.
      mkdirSync(onMount('guarded/home'));
      chownSync(onMount('guarded/home'), 1000, 1000);
      mkdirSync(onMount('guarded/team'), { mode: 0o775 });
      chownSync(onMount('guarded/team'), 0, 2000);
      chmodSync(onMount('guarded/team'), 0o775);
      await user.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'home/mine/file', Body: 'mine' }));
      await user.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'team/shared', Body: 'ours' }));
      // Through the mount once its metadata cache has heard of both changes (a poll or two; a
      // poll between the two puts brings the first alone).
      await eventually(
        async () =>
          existsSync(onMount('guarded/home/mine/file')) && existsSync(onMount('guarded/team/shared'))
            ? true
            : undefined,
        10_000,
        "the user's objects to show through FUSE",
      );
      expect(statSync(onMount('guarded/home/mine/file')).uid).toBe(1000);
      expect(statSync(onMount('guarded/home/mine')).uid).toBe(1000);
      expect(statSync(onMount('guarded/team/shared')).gid).toBe(1000);
    } finally {
      user.destroy();
    }
  });

  it("maps a cluster user's key to that user, and refuses keys of no user", async () => {
    const added = await runAdmin(cluster, ['user-add', 's3-owner', '--uid', '1600', '--gid', '1600']);
    expect(added.code, added.stderr).toBe(0);
    const missing = await runAdmin(cluster, ['s3-key-add', 'nobody-here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no cluster user "nobody-here"/);
    const made = await runAdmin(cluster, ['--json', 's3-key-add', 's3-owner']);
    expect(made.code, made.stderr).toBe(0);
    const key = JSON.parse(made.stdout) as TestKey;
    const listed = await runAdmin(cluster, ['s3-key-list']);
    expect(listed.stdout).toMatch(new RegExp(`${key.accessKeyId}\\s+s3-owner\\s+cluster user s3-owner`));
    mkdirSync(onMount('guarded/owner-home'));
    chownSync(onMount('guarded/owner-home'), 1600, 1600);
    const owner = sdkClient(gateway, key);
    try {
      await owner.send(
        new PutObjectCommand({ Bucket: 'guarded', Key: 'owner-home/object', Body: 'by s3-owner' }),
      );
      await expect(
        owner.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'not-theirs', Body: 'x' })),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
    } finally {
      owner.destroy();
    }
    await eventually(
      async () => (existsSync(onMount('guarded/owner-home/object')) ? true : undefined),
      10_000,
      "the user's object to show through FUSE",
    );
    expect(statSync(onMount('guarded/owner-home/object')).uid).toBe(1600);
    // A key whose user is gone is no key, on a gateway that loads it afresh.
    expect((await runAdmin(cluster, ['user-remove', 's3-owner'])).code).toBe(0);
    const fresh = await startS3Gateway(cluster, writeS3GatewayConfig(cluster, { nodeId: 403 }));
    const orphan = sdkClient(fresh, key);
    try {
      await expect(
        orphan.send(new GetObjectCommand({ Bucket: 'guarded', Key: 'owner-home/object' })),
      ).rejects.toMatchObject({
        name: 'InvalidAccessKeyId',
      });
    } finally {
      orphan.destroy();
      fresh.process.child.kill('SIGTERM');
    }
  });

  it('refuses malformed XML bodies with MalformedXML', async () => {
    const bodies = [
      '<Delete><Object><Key>a</Key></Object>',
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>',
      'not xml at all',
      '<Delete></Delete>',
    ];
    for (const text of bodies) {
      const body = Buffer.from(text);
      const response = await signed({
        method: 'POST',
        path: '/guarded',
        query: [['delete', '']],
        body,
        headers: { 'content-md5': createHash('md5').update(body).digest('base64') },
      });
      expect(response.status, text).toBe(400);
      expect(codeOf(response.body), text).toBe('MalformedXML');
    }
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'guarded', Key: 'xml' }));
    const complete = await signed({
      method: 'POST',
      path: '/guarded/xml',
      query: [['uploadId', upload.UploadId ?? '']],
      body: Buffer.from('<CompleteMultipartUpload><Part><PartNumber>one</PartNumber>'),
    });
    expect(codeOf(complete.body)).toBe('MalformedXML');
    expect(existsSync(onMount('guarded/readable'))).toBe(true);
  });

  it('refuses an absurd Content-Length at once and closes the connection', async () => {
    const timeMs = Date.now();
    const headers: Record<string, string> = {
      host: `127.0.0.1:${gateway.port}`,
      'x-amz-date': formatAmzDate(timeMs),
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'content-length': '999999999999999',
    };
    const authorization = authorizationHeader(
      { method: 'PUT', path: '/guarded/huge', headers, payloadHash: 'UNSIGNED-PAYLOAD' },
      { ...rootKey, region: testRegion, timeMs },
    );
    const reply = await rawExchange(
      `PUT /guarded/huge HTTP/1.1\r\n${Object.entries({ ...headers, authorization })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('')}\r\n${'x'.repeat(1000)}`,
    );
    expect(reply.text).toMatch(/^HTTP\/1\.1 400/);
    expect(codeOf(reply.text)).toBe('EntityTooLarge');
    expect(reply.closed).toBe(true);
    expect(existsSync(onMount('guarded/huge'))).toBe(false);
  });

  /** Writes `text` on a fresh connection; resolves with all it reads until the server closes or 5 s pass. */
  function rawExchange(text: string): Promise<{ text: string; closed: boolean }> {
    return new Promise((resolve) => {
      const socket = connect(gateway.port, '127.0.0.1');
      let received = '';
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ text: received, closed: false });
      }, 5_000);
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ text: received, closed: true });
      });
      socket.on('error', () => undefined);
      socket.write(text);
    });
  }

  it('refuses keys with "..", ".", empty components, NUL, or over 1,024 bytes', async () => {
    const cases: Array<[string, string]> = [
      ['/guarded/%2E%2E/escape', 'InvalidArgument'],
      ['/guarded/a/%2E%2E/%2E%2E/escape', 'InvalidArgument'],
      ['/guarded/a/%2E/b', 'InvalidArgument'],
      ['/guarded/a//b', 'InvalidArgument'],
      ['/guarded/nul%00byte', 'InvalidArgument'],
      [`/guarded/${'k'.repeat(1025)}`, 'KeyTooLongError'],
      ['/guarded/bad%ZZescape', 'InvalidURI'],
    ];
    for (const [path, code] of cases) {
      // A path no client could sign is refused before its signature is looked at.
      const response = path.includes('%ZZ')
        ? await send({ method: 'PUT', path, headers: { 'content-length': '1' }, body: Buffer.from('x') })
        : await signed({ method: 'PUT', path, body: Buffer.from('x') });
      expect(response.status, path).toBe(400);
      expect(codeOf(response.body), path).toBe(code);
    }
    expect(readdirSync(onMount('guarded')).sort()).toEqual(
      expect.not.arrayContaining(['escape', 'a', 'nul\0byte']),
    );
    expect(existsSync(join(cluster.mountPoint, 'escape'))).toBe(false);
  });

  it('leaves no object and no staging file when the client disconnects mid-upload', async () => {
    const timeMs = Date.now();
    const headers: Record<string, string> = {
      host: `127.0.0.1:${gateway.port}`,
      'x-amz-date': formatAmzDate(timeMs),
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'content-length': String(16 * 1024 * 1024),
    };
    const authorization = authorizationHeader(
      { method: 'PUT', path: '/guarded/cut-off', headers, payloadHash: 'UNSIGNED-PAYLOAD' },
      { ...rootKey, region: testRegion, timeMs },
    );
    await new Promise<void>((resolve) => {
      const socket = connect(gateway.port, '127.0.0.1', () => {
        socket.write(
          `PUT /guarded/cut-off HTTP/1.1\r\n${Object.entries({ ...headers, authorization })
            .map(([name, value]) => `${name}: ${value}\r\n`)
            .join('')}\r\n`,
        );
        socket.write(randomBytes(3 * 1024 * 1024), () => {
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 300);
        });
      });
      socket.on('error', () => undefined);
    });
    // Uploads in progress are no one else's to list.
    expect(statSync(onMount('.s3-staging')).mode & 0o7777).toBe(0o1733);
    await eventually(
      async () => (readdirSync(onMount('.s3-staging')).length === 0 ? true : undefined),
      15_000,
      'the staging directory to be empty again',
    );
    expect(existsSync(onMount('guarded/cut-off'))).toBe(false);
    await expect(s3.send(new GetObjectCommand({ Bucket: 'guarded', Key: 'cut-off' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
  });

  it('serves HTTPS with the configured certificate', async () => {
    const dir = world.tempDir('3fs-s3-tls-');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);
    const tls = await startS3Gateway(
      cluster,
      writeS3GatewayConfig(cluster, {
        nodeId: 402,
        s3Settings: `tls_cert_file = "${join(dir, 'cert.pem')}"\ntls_key_file = "${join(dir, 'key.pem')}"`,
      }),
    );
    const timeMs = Date.now();
    const headers: Record<string, string> = {
      host: `127.0.0.1:${tls.port}`,
      'x-amz-date': formatAmzDate(timeMs),
      'x-amz-content-sha256': sha256Hex(''),
    };
    const authorization = authorizationHeader(
      { method: 'GET', path: '/guarded/readable', headers, payloadHash: sha256Hex('') },
      { ...rootKey, region: testRegion, timeMs },
    );
    const body = await new Promise<string>((resolve, reject) => {
      const outgoing = httpsRequest(
        {
          host: '127.0.0.1',
          port: tls.port,
          path: '/guarded/readable',
          headers: { ...headers, authorization },
          ca: readFileSync(join(dir, 'cert.pem')),
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve(text));
        },
      );
      outgoing.on('error', reject);
      outgoing.end();
    });
    expect(body).toBe('for everyone');
    // Plain HTTP to the TLS port is no S3 request.
    await expect(fetch(`http://127.0.0.1:${tls.port}/guarded/readable`)).rejects.toThrow();
    tls.process.child.kill('SIGTERM');
    expect(await tls.process.exited).toEqual({ code: 0, signal: null });
  });

  it('serves unsigned reads only from a gateway configured for them, and never writes', async () => {
    const response = await fetch(`${gateway.endpoint}/guarded/readable`);
    expect(response.status).toBe(403);
    const open = await startS3Gateway(
      cluster,
      writeS3GatewayConfig(cluster, {
        nodeId: 401,
        s3Settings: 'anonymous_read = true',
        extraToml: '[monitor]\nlisten = "127.0.0.1:0"\n',
      }),
    );
    const read = await fetch(`${open.endpoint}/guarded/readable`);
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('for everyone');
    const listed = await fetch(`${open.endpoint}/guarded?list-type=2`);
    expect(listed.status).toBe(200);
    const secret = await fetch(`${open.endpoint}/guarded/secret`);
    expect(secret.status).toBe(403);
    const write = await fetch(`${open.endpoint}/guarded/anonymous`, { method: 'PUT', body: 'x' });
    expect(write.status).toBe(403);
    expect(codeOf(await write.text())).toBe('AccessDenied');
    expect(existsSync(onMount('guarded/anonymous'))).toBe(false);
    // Its own /metrics counts what it answered, by operation and status.
    const endpoint = await open.process.waitForLog((line) =>
      String(line['msg']).startsWith('metrics endpoint'),
    );
    const metrics = await (await fetch(`http://${String(endpoint['address'])}/metrics`)).text();
    expect(metrics).toMatch(/threefs_s3_requests_total\{[^}]*operation="GetObject"[^}]*status="200"/);
    expect(metrics).toMatch(/threefs_s3_request_errors_total\{[^}]*code="AccessDenied"/);
    // SIGTERM: ready was said, the stop is clean.
    await open.process.waitForLog((line) => line['msg'] === 's3 gateway ready');
    open.process.child.kill('SIGTERM');
    expect(await open.process.exited).toEqual({ code: 0, signal: null });
    expect(open.process.stderr()).toContain('s3 gateway stopped');
  });
});
