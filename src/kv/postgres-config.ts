/**
 * `[kv.postgres]`: where the PostgreSQL engine connects and how. The server is named either by
 * `url` or by `host`/`port`/`user`/`database`, never both; a password comes only from
 * `password_file` (never inline, so configuration files and the Nix store hold no secrets).
 * Several clusters may share one server: each names its own `schema` and `table`.
 *
 *   [kv]
 *   engine = "postgres"
 *   [kv.postgres]
 *   host = "db1.example.org"
 *   user = "threefs"
 *   database = "threefs"
 *   password_file = "/run/secrets/3fs-postgres"
 *   table = "cluster_a_kv"
 */
import { z } from 'zod';
import { limits } from '../common/limits.js';

/** A PostgreSQL identifier we create and quote: lower case, so it never needs case folding rules. */
const identifierSchema = z
  .string()
  .regex(
    /^[a-z_][a-z0-9_]{0,62}$/,
    'lower-case letters, digits and "_", starting with a letter or "_", at most 63',
  );

const urlSchema = z
  .string()
  .min(1)
  .superRefine((text, context) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      context.addIssue({ code: 'custom', message: 'not a URL' });
      return;
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      context.addIssue({ code: 'custom', message: 'expected a postgres:// or postgresql:// URL' });
    }
    if (url.password !== '') {
      context.addIssue({
        code: 'custom',
        message: 'holds a password: put it in a file and name that file in password_file',
      });
    }
    if (url.search !== '' || url.hash !== '') {
      context.addIssue({
        code: 'custom',
        message: 'has query parameters: use the keys of [kv.postgres] (ssl, timeouts) instead',
      });
    }
    if (url.hostname === '') context.addIssue({ code: 'custom', message: 'names no host' });
    if (url.username === '') context.addIssue({ code: 'custom', message: 'names no user' });
    if (url.pathname.length <= 1) context.addIssue({ code: 'custom', message: 'names no database' });
  });

/** `[kv.postgres]`. */
export const postgresSectionSchema = z
  .strictObject({
    /** `postgresql://user@host:port/database`, without a password or parameters. */
    url: urlSchema.optional(),
    /** A host name or address, or the directory of the server's unix socket (starting with "/"). */
    host: z.string().min(1).max(255).optional(),
    /** Default 5432. */
    port: z.number().int().min(1).max(65_535).optional(),
    user: z.string().min(1).max(63).optional(),
    database: z.string().min(1).max(63).optional(),
    /**
     * A file whose content (without surrounding whitespace) is the password. Without it the
     * server's other methods apply (peer, certificates, trust), or libpq's ~/.pgpass and
     * PGPASSWORD, which node-postgres reads too.
     */
    password_file: z.string().min(1).optional(),
    /** The schema holding the table; created when absent. */
    schema: identifierSchema.default('public'),
    /** The table holding this cluster's keys; created when absent. */
    table: identifierSchema.default('threefs_kv'),
    /** Connections this process opens at most: transactions running at once. */
    pool_size: z.number().int().min(1).max(1_000).default(limits.kvPostgresPoolSizeDefault),
    /** Deadline of opening a connection and of waiting for a free one. */
    connect_timeout_ms: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(limits.kvPostgresConnectTimeoutMsDefault),
    /** The server cancels a statement running longer than this. */
    statement_timeout_ms: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(limits.kvPostgresStatementTimeoutMsDefault),
    /**
     * "disable": plain TCP (loopback, unix sockets, trusted networks); "require": TLS without
     * checking the server's certificate; "verify-full": TLS with the certificate checked against
     * `ssl_ca_file` (or the system's authorities) and the host name.
     */
    ssl: z.enum(['disable', 'require', 'verify-full']).default('disable'),
    ssl_ca_file: z.string().min(1).optional(),
  })
  .superRefine((section, context) => {
    if (section.url !== undefined) {
      for (const key of ['host', 'port', 'user', 'database'] as const) {
        if (section[key] !== undefined) {
          context.addIssue({
            code: 'custom',
            path: [key],
            message: 'give either url or host/port/user/database, not both',
          });
        }
      }
    } else {
      for (const key of ['host', 'user', 'database'] as const) {
        if (section[key] === undefined) {
          context.addIssue({ code: 'custom', path: [key], message: 'required unless url is given' });
        }
      }
    }
    if (section.ssl_ca_file !== undefined && section.ssl !== 'verify-full') {
      context.addIssue({
        code: 'custom',
        path: ['ssl_ca_file'],
        message: 'only used with ssl = "verify-full"',
      });
    }
  });

/** A parsed `[kv.postgres]` section. */
export type PostgresSection = z.output<typeof postgresSectionSchema>;

/** The server, user and database a section names (the password aside). */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  database: string;
}

/** Where a parsed section connects, whether it was given as a url or by its parts. */
export function postgresTarget(section: PostgresSection): PostgresTarget {
  if (section.url !== undefined) {
    const url = new URL(section.url);
    return {
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? 5432 : Number(url.port),
      user: decodeURIComponent(url.username),
      database: decodeURIComponent(url.pathname.slice(1)),
    };
  }
  // The schema's refinement guarantees these whenever url is absent.
  return {
    host: section.host ?? '',
    port: section.port ?? 5432,
    user: section.user ?? '',
    database: section.database ?? '',
  };
}
