/**
 * Every fixed limit and default of the system, with its unit in the name and the reason beside it.
 * Configurable values take their defaults from here; relationships between limits are asserted
 * once, at start-up, by `checkLimitRelations`.
 */
import { assert } from './errors.js';

export const limits = {
  // --- KV: FoundationDB's own limits, enforced for every engine so code that passes on sqlite
  // keeps working on FoundationDB.
  /** FoundationDB refuses keys larger than 10,000 bytes. */
  kvKeyBytesMax: 10_000,
  /** FoundationDB refuses values larger than 100,000 bytes. */
  kvValueBytesMax: 100_000,
  /** FoundationDB refuses transactions whose mutations exceed 10,000,000 bytes. */
  kvTransactionBytesMax: 10_000_000,
  /** FoundationDB aborts transactions older than 5 seconds (transaction_too_old). */
  kvTransactionDurationMsMax: 5_000,
  /** Attempts of one transaction function before giving up on conflicts. */
  kvTransactionAttemptsMax: 20,
  /** First backoff after a conflict; doubles up to kvRetryBackoffMsMax, with jitter. */
  kvRetryBackoffMsInitial: 2,
  kvRetryBackoffMsMax: 500,
  /**
   * Conflicts after which a transaction's next attempts run alone among this process's
   * transactions on the engine (backed-engine.ts): under many writers of neighbouring keys,
   * PostgreSQL's page-granular conflict tracking can otherwise refuse one transaction on every try.
   */
  kvConflictsBeforeExclusive: 2,
  /** Transaction attempts of one process that may run at once on a backed engine (and wait for it). */
  kvAttemptsConcurrentMax: 65_536,
  /** Pairs one range read returns at most; bigger ranges are read in pages with `limit`. */
  kvRangeReadPairsMax: 100_000,
  /** Transactions of one process that may wait for the engine's connection; more get Overloaded. */
  kvTransactionsQueuedMax: 1_024,
  /**
   * How long sqlite itself blocks the event loop waiting for another process's lock before it
   * answers SQLITE_BUSY; longer waits happen in asynchronous polls (kvSqliteLockPollMs).
   */
  kvSqliteBusyTimeoutMs: 2,
  /** Base interval (jittered up to twice this) between polls for another process's write lock. */
  kvSqliteLockPollMs: 1,
  /** How long one attempt polls for the write lock before failing with a retryable Conflict. */
  kvSqliteLockWaitMsMax: 1_000,
  /** How long opening a database waits for other processes (schema creation, WAL switch). */
  kvSqliteOpenWaitMsMax: 10_000,
  /**
   * Group commit: transactions queued in one process share one sqlite commit (one fsync). A group
   * closes after this many members or this much time, so the first member's reply stays prompt.
   */
  kvSqliteGroupMembersMax: 128,
  kvSqliteGroupDurationMsMax: 20,
  /** The WAL file is truncated to this size after checkpoints, so one burst does not keep disk forever. */
  kvSqliteWalBytesMax: 64 * 1024 * 1024,
  /** Connections one process keeps to PostgreSQL by default: one per transaction running at once. */
  kvPostgresPoolSizeDefault: 10,
  /** Deadline of opening a PostgreSQL connection, and of waiting for a free one from the pool. */
  kvPostgresConnectTimeoutMsDefault: 5_000,
  /** A statement never usefully runs longer than the transaction age limit it belongs to. */
  kvPostgresStatementTimeoutMsDefault: 5_000,
  /**
   * The server ends a session idle inside a transaction for this long, so a client that vanished
   * mid-transaction releases its locks; twice the age limit, which no live transaction outlasts.
   */
  kvPostgresIdleInTransactionMs: 10_000,
  /** An idle pooled connection is closed after this long. */
  kvPostgresIdleConnectionMs: 30_000,
  /** Rows and bytes of one write statement at commit; larger transactions use several statements. */
  kvPostgresWriteBatchRowsMax: 1_000,
  kvPostgresWriteBatchBytesMax: 1024 * 1024,
  /**
   * Leading key bytes held in PostgreSQL's b-tree: a b-tree entry holds at most about 2,700
   * bytes, far less than the 10,000-byte keys the KV accepts, so longer keys are indexed by this
   * head plus a hash of the whole key.
   */
  kvPostgresKeyHeadBytes: 1_024,
  /**
   * How long a commit whose connection broke during COMMIT keeps asking the server (after it
   * comes back) whether the transaction committed, before reporting CommitUnknown. Covers a
   * server restart.
   */
  kvPostgresCommitResolveMsMax: 20_000,
  /** Base interval (jittered up to twice this) between those questions. */
  kvPostgresCommitResolvePollMs: 100,
  /** Commit markers of known outcome deleted by one statement; deletion waits until this many gather. */
  kvPostgresMarkerDeleteBatch: 64,
  /** Markers awaiting deletion one process keeps at most; beyond it the oldest are left to the sweep. */
  kvPostgresMarkersPendingMax: 4_096,
  /** Markers older than this are swept when an engine opens: no commit outcome is resolved that late. */
  kvPostgresMarkerRetentionMs: 3_600_000,
  /** FoundationDB API version the engine selects unless configured; the npm binding supports up to 720. */
  kvFoundationDbApiVersionDefault: 710,
  /** Bytes of the key prefix under which the FoundationDB engine keeps all its keys. */
  kvFoundationDbPrefixBytesMax: 64,
  /**
   * A FoundationDB transaction, its retries included, gives up after this long (for example when
   * the cluster is unreachable): FoundationDB itself would retry forever.
   */
  kvFoundationDbTransactionTimeoutMsDefault: 15_000,
  /** Pairs and bytes one batch of an engine-to-engine copy moves: one read and one write transaction. */
  kvCopyBatchPairsMax: 10_000,
  /** Well under the 10 MB transaction limit, so a batch commits quickly on every engine. */
  kvCopyBatchBytesMax: 4 * 1024 * 1024,

  // --- RPC
  /** Largest frame accepted by default: a 64 MiB chunk plus room for the header and body. */
  rpcFrameBytesMaxDefault: 64 * 1024 * 1024 + 1024 * 1024,
  /** Largest encoded body (the structured part of a frame); payloads carry bulk bytes. */
  rpcBodyBytesMax: 16 * 1024 * 1024,
  /** Deadline of one call unless the caller passes its own. */
  rpcTimeoutMsDefault: 10_000,
  /** Time a fresh connection has to complete the authentication handshake. */
  rpcHandshakeTimeoutMs: 5_000,
  /** TCP connect deadline. */
  rpcConnectTimeoutMs: 3_000,
  /** Requests a server runs at once for one connection before it stops reading from it. */
  rpcServerInflightPerConnectionMax: 64,
  /** Requests a client keeps outstanding on one connection; further calls wait in a bounded queue. */
  rpcClientInflightPerConnectionMax: 64,
  /** Calls that may wait for a free in-flight slot on one connection before Overloaded is returned. */
  rpcClientQueuedPerConnectionMax: 1024,
  /** Retries of an idempotent call after a retryable failure (so attempts = retries + 1). */
  rpcIdempotentRetriesMax: 3,
  rpcRetryBackoffMsInitial: 50,
  rpcRetryBackoffMsMax: 1_000,
  /** Connections a client pool keeps per remote address. */
  rpcConnectionsPerAddress: 1,
  /** How long RpcServer.close() waits for in-flight handlers before aborting them. */
  rpcServerDrainMsDefault: 10_000,
  /** Time a closing socket gets to flush its last frames before it is destroyed. */
  rpcSocketEndGraceMs: 1_000,
  /** Connections one server accepts at once; beyond it the OS-level accept is refused. */
  rpcServerConnectionsMax: 4_096,
  /** Idle time before TCP keep-alive probes start, so a vanished peer is noticed. */
  rpcKeepAliveIdleMs: 30_000,
  /** Largest frame before a peer has authenticated: handshakes are tiny; strangers do not fill memory. */
  rpcHandshakeFrameBytesMax: 4_096,
  /**
   * Reads up to this long are first tried on the storage service's own thread, from the page cache
   * only (the chunk engine's readCached); a miss goes to the engine's threads as before.
   */
  storageCachedReadBytesMax: 128 * 1024,
  /**
   * Reads this long or longer into page-aligned memory (the storage service's pooled reply
   * buffers) go around the page cache (`[storage] direct_reads`): such a read is a stream, and
   * copying it out of fresh cache pages, then reclaiming them, cost more CPU than the read.
   */
  storageDirectReadBytesMin: 256 * 1024,
  /**
   * Client sockets, and the storage service's server sockets, read a payload this long or longer
   * straight into its own buffer (DirectReads).
   */
  rpcDirectPayloadMinBytes: 64 * 1024,
  /** Where such a socket's other reads land, in turn, kept as views by the frames read into them. */
  rpcReadSlabBytes: 64 * 1024,
  /**
   * A slab with less room than this left is retired for a new one before the next read, so a
   * small reply (a 4 KiB read's) arrives whole in one read rather than split across two slabs.
   */
  rpcReadSlabTailMinBytes: 16 * 1024,
  /** The storage service reuses buffers for payloads (writes, read replies) up to this long (payload-pool.ts). */
  storagePayloadPoolBytesMax: 8 * 1024 * 1024,
  /** Free payload buffers a storage service keeps for reuse, in bytes. */
  storagePayloadPoolKeptBytesMax: 64 * 1024 * 1024,
  /**
   * The FUSE daemon and the gateways read chunk replies up to this long into reused buffers, and
   * keep this many bytes of free ones (payload-pool.ts): without them, every MiB read through
   * them is a new ArrayBuffer, and V8 runs a full collection for each 64 MiB of those.
   */
  readReplyPoolBytesMax: 8 * 1024 * 1024,
  readReplyPoolKeptBytesMax: 32 * 1024 * 1024,
  /**
   * A client copies the bytes of each write it buffers (file-writer.ts) into reused buffers from
   * this long up to a whole chunk, and keeps this many bytes of free ones: without them every MiB
   * written is a new ArrayBuffer, and V8 runs a full collection for each 64 MiB of those.
   */
  clientWriteStagingBytesMin: 64 * 1024,
  clientWriteStagingKeptBytesMax: 64 * 1024 * 1024,
  /**
   * Secrets one cluster secret file may list: a rotation needs two (the one nodes connect with and
   * the next, or the previous); a few more leave room for a rotation begun again midway, never a
   * list that grows with each rotation. Each listed secret costs one HMAC per handshake refused.
   */
  clusterSecretsMax: 4,
  /** Users of one cluster: the whole table is held in memory by every service and sent in one reply. */
  usersMax: 10_000,
  /** Tokens one user holds at once (current ones and those in a rotation's grace period). */
  userTokensMax: 8,
  /**
   * How often services reload the users and tokens they verify callers against: the bound on how
   * long a removed or rotated-out token keeps working on a connection (twice this, at worst).
   */
  userTokenRefreshMs: 2_000,
  /** Shortest cluster secret: a shorter one could be guessed offline from one recorded handshake. */
  clusterSecretCharsMin: 16,
  /** Longest cluster secret: far above any generated one, so a wrong file (a log, a binary) is refused. */
  clusterSecretCharsMax: 1_024,
  /**
   * How often every long-running process reads its cluster secret file again (SIGHUP reads it at
   * once): a rotation step takes effect everywhere within about this long, for a read of a few
   * hundred bytes every few seconds.
   */
  clusterSecretCheckIntervalMs: 2_000,
  /** Handshakes `admin secret-rotate status` runs at once (nodes times secrets), so no cluster is flooded. */
  adminSecretProbesInflightMax: 32,

  // --- mgmtd
  /**
   * How long a primary's lease lasts without renewal. A standby takes over at most lease + renew
   * interval after the primary dies, well inside the half heartbeat timeout after which storage
   * services fence themselves, so a failover keeps every storage service serving.
   */
  mgmtdLeaseMsDefault: 3_000,
  /** How often a mgmtd tries to take or renew the lease. */
  mgmtdLeaseRenewMsDefault: 750,
  /** How often nodes send heartbeats. */
  heartbeatIntervalMsDefault: 1_000,
  /** A node without a heartbeat for this long is declared offline. */
  heartbeatTimeoutMsDefault: 10_000,
  /** How often the primary applies the target state table to every chain. */
  mgmtdChainUpdateMsDefault: 500,
  /** Nodes, targets and chains a cluster may hold: bounds every list mgmtd keeps and returns. */
  mgmtdNodesMax: 10_000,
  mgmtdTargetsMax: 100_000,
  mgmtdChainsMax: 100_000,

  // --- monitoring
  /** How often a process pushes a metric snapshot to the collector by default. */
  monitorPushIntervalMsDefault: 5_000,
  /** Metric families and samples one pushed snapshot may hold; a bigger push is refused whole. */
  monitorSnapshotFamiliesMax: 4_096,
  monitorSnapshotSamplesMax: 200_000,
  /** Labels per sample, and bytes of a label or metric name or value, in a pushed snapshot. */
  monitorSnapshotLabelsMax: 16,
  monitorSnapshotStringBytesMax: 256,
  /** Points of history the collector keeps per series by default (10 minutes at one push a second). */
  monitorHistoryPointsDefault: 600,
  /**
   * Series the collector keeps history for by default; samples of further series are dropped and
   * counted. Each series costs 16 bytes a point, so the default bounds history near 200 MB.
   */
  monitorHistorySeriesMaxDefault: 20_000,
  /** A process silent for this long drops out of the collector's /metrics (its history stays). */
  monitorNodeStaleMsDefault: 30_000,
  /** A series without a new point for this long is forgotten, history and all. */
  monitorSeriesIdleMsDefault: 15 * 60_000,
  /** Points one JSON series query returns per series at most. */
  monitorQueryPointsMax: 10_000,
  /** How often the collector refreshes the whole routing info (usage and heartbeat times change without a version bump). */
  monitorRoutingRefreshMsDefault: 2_000,
  /** Disk use of a target above this fraction of its capacity is an alert. */
  monitorDiskFullRatio: 0.9,
  /** ClickHouse: rows per INSERT, rows waiting at most (beyond: dropped and counted), flush period. */
  monitorClickhouseBatchRowsDefault: 10_000,
  monitorClickhouseBufferedRowsMax: 200_000,
  monitorClickhouseFlushMsDefault: 5_000,
  monitorClickhouseTimeoutMsDefault: 10_000,

  // --- meta
  /** Bytes of one name (a path component); Linux's NAME_MAX, so every local tool fits. */
  metaNameBytesMax: 255,
  /** Bytes of a whole path, symlink targets included; Linux's PATH_MAX. */
  metaPathBytesMax: 4_096,
  /** Symbolic links followed while resolving one path; Linux's MAXSYMLINKS, beyond it ELOOP. */
  metaSymlinkDepthMax: 40,
  /**
   * Path components visited while resolving one path, counting those that symlinks splice in: 40
   * links of a full path each. Bounds the reads of one resolution whatever the links contain.
   */
  metaPathComponentsVisitedMax: 40 * 2_048,
  /** Supplementary groups a caller may present; Linux's NGROUPS_MAX is larger, but FUSE callers rarely have more. */
  metaGroupsMax: 256,
  /** Entries one readdir page returns at most; a page is one range read. */
  metaReaddirPageMax: 1_024,
  /** Inodes one batch stat reads at most, so one reply stays far below the RPC body limit. */
  metaBatchStatMax: 1_024,
  /**
   * Inode ids a meta service reserves per KV transaction on the shared counter, so creates on
   * several services do not all conflict on one key; ids of a batch left unused at exit are lost.
   */
  metaInodeIdBatch: 256,
  /** Hard links one inode may have (ext4's bound); beyond it EMLINK. */
  metaLinksMax: 65_000,
  /** Ancestors walked to refuse a rename of a directory under itself; deeper trees are refused. */
  metaDirectoryDepthMax: 8_192,
  /**
   * Inodes one recursive remove may delete in its single transaction; FoundationDB's 10 MB
   * transaction limit allows about 20,000 of our small records, half of it leaves headroom.
   */
  metaRecursiveRemoveInodesMax: 10_000,
  /** Write sessions open at once on one file; beyond it ENFILE. */
  metaSessionsPerInodeMax: 1_024,
  /** Sessions one closeSessions call closes at most (one transaction). */
  metaSessionsClosedPerCallMax: 256,
  /**
   * How long a client holds the close of a write session that wrote nothing, to close many in one
   * call (session-closer.ts): short, since the session keeps an unlinked file's data until then.
   */
  clientSessionCloseDelayMs: 20,
  /**
   * Sessions a client closes in one call: few, since a transaction that reads many keys conflicts
   * with more concurrent ones (PostgreSQL's serializable isolation widens its read locks then).
   */
  clientSessionsClosedPerCallMax: 32,
  /** closeSessions calls one client has in flight at once; more batches wait for one to end. */
  clientSessionCloseCallsMax: 4,
  /**
   * Closes of unwritten sessions waiting for a call; beyond it (meta unreachable for long) more
   * stay open in meta until the client's sessions are pruned at its next start.
   */
  clientSessionClosesWaitingMax: 65_536,
  /** Sessions of a dead client pruned per transaction; pruning loops until none remain. */
  metaSessionsPrunedPerTransaction: 256,
  /** Bytes of an extended attribute's name and value: Linux's XATTR_NAME_MAX and XATTR_SIZE_MAX. */
  metaXattrNameBytesMax: 255,
  metaXattrValueBytesMax: 65_536,
  /** Extended attributes one inode may hold, so listing them is one bounded read. */
  metaXattrsPerInodeMax: 256,
  /**
   * Entries of one POSIX ACL, its base entries included: what the kernel's FUSE module carries in
   * the one page it reads an ACL into ((4096 - 4) / 8 bytes), about what ext4 fits in a block.
   * ACLs live in the inode record, which every path step reads: this also bounds that record.
   */
  metaAclEntriesMax: 511,
  /** Largest file length: the largest signed 64-bit offset, as off_t allows. */
  metaFileLengthBytesMax: (1n << 63n) - 1n,
  /** Records one GC-queue or pending-truncation listing returns at most. */
  metaGcListMax: 1_024,
  /** Problems the invariant checker reports before it stops listing more. */
  metaFsckProblemsMax: 1_000,
  /** Replaces `admin fsck --repair` sends a chunk's head to bring it to the version its replicas got. */
  adminFsckReplacesMax: 16,
  /** Dangling entries one removeDanglingEntries call (one transaction) removes at most. */
  metaFsckRepairsPerCallMax: 256,
  /**
   * How long a mutation's result is kept for retries of its request id (longer than any client
   * retries one call), and how far a request id's time may be from the service's clock for the
   * service to keep one: the records are swept by that time.
   */
  metaRequestRecordTtlMs: 10 * 60_000,
  /** How often a meta service sweeps expired request records. */
  metaRequestSweepIntervalMs: 60_000,
  /** Expired request records removed per sweep transaction (about 100 bytes each). */
  metaRequestSweepPageMax: 10_000,
  /**
   * Changes one meta service remembers for clients that cache metadata (meta/change-log.ts): about
   * 100 bytes each; a client further behind drops its whole cache. At 10,000 changes a second,
   * 10 s of history, twenty times the clients' poll interval.
   */
  metaChangeLogItemsMax: 100_000,
  /** Changes one transaction lists item by item; more (a large recursive remove) say "everything". */
  metaChangesPerTransactionMax: 256,
  /** Changes one poll of the change log returns at most. */
  metaChangesPerPollMax: 4_096,
  /** How often the GC worker looks for removed and truncated files' chunks to delete, by default. */
  metaGcIntervalMsDefault: 5_000,
  /** Queue entries one meta service works on at once by default ([meta.gc] concurrency). */
  metaGcConcurrencyDefault: 4,
  /**
   * How long a meta service's claim on a queue entry lasts: another service takes the entry over
   * only after this, so a worker that died mid-entry delays that entry by at most this long.
   */
  metaGcClaimMs: 60_000,
  /** Chunk removals or truncations one entry sends to storage at once. */
  metaGcChunkOpsConcurrency: 8,
  /** Deadline of one chunk removal or truncation through its chain. */
  metaGcChunkOpTimeoutMs: 20_000,
  /** Attempts of one GC chunk operation (after routing refreshes) before the entry waits for a later pass. */
  metaGcChunkOpAttemptsMax: 8,

  // --- cluster-wide flock and POSIX locks (meta/locks/, client/lock-client.ts)
  /** Owners holding locks of one kind on one file; a conflict check reads them all in one range read. */
  metaLockHoldersPerInodeMax: 1_024,
  /** Byte ranges one owner holds on one file: its record (about 30 bytes a range) stays one KV value. */
  metaLockRangesPerHolderMax: 1_024,
  /** Byte ranges of all owners of one file: bounds what one conflict check reads (about 250 KB). */
  metaLockRangesPerInodeMax: 8_192,
  /** Bounds of a lease a client may ask for: renewals every lease/3 must fit, and a dead holder must not block for long. */
  metaLockLeaseMsMin: 1_000,
  metaLockLeaseMsMax: 600_000,
  /**
   * How long a lapsed lease's record is kept once its locks are gone: it carries the client's
   * last epoch, so a later lease of that client id starts above it (meta/locks/lock-store.ts).
   */
  metaLockLeaseKeepMs: 24 * 3_600_000,
  /** Locks (or leases) one transaction of the lapsed-lease sweep or of an unmount's release handles. */
  metaLockReleasePageMax: 256,
  /** Pages one release or sweep runs at most: a bound on one call's work (a million locks). */
  metaLockReleasePagesMax: 4_096,
  /** How long the FUSE daemon's lease lasts by default: a SIGKILLed daemon's locks free within it. */
  fuseLockLeaseMsDefault: 15_000,
  /**
   * How long a blocking lock request (F_SETLKW, flock without LOCK_NB) waits by default before it
   * fails (EDEADLK, EWOULDBLOCK): POSIX sets no bound, but a FUSE request must not hang forever.
   */
  fuseLockWaitMsMaxDefault: 3_600_000,
  /** POSIX lock owners the FUSE daemon remembers per open file, to drop OFD locks at its last close. */
  fuseLockOwnersPerOpenFileMax: 1_024,
  /** Backoff between attempts of a waiting lock request: doubles from the first to the maximum. */
  clientLockRetryMsInitial: 5,
  clientLockRetryMsMax: 200,

  // --- the trash (meta/trash/, admin trash-*)
  /** Longest stay in the trash one may ask for: ten years, so expiry times stay far inside a u64 of ns. */
  trashExpireSMax: 10 * 365 * 86_400,
  /** The stay `admin rmtree --trash` asks for without `--expire`: 3FS's longest preset, 7 days. */
  trashExpireSDefault: 7 * 86_400,
  /** Items one listTrash page returns at most (each costs one entry read to check it is still there). */
  metaTrashListPageMax: 1_024,
  /**
   * Entries read (snapshot reads, conflicting with nothing) to find the names of a removed entry's
   * ancestors for its original path; past it the path is not recorded (the parent's id still is).
   */
  metaTrashPathEntriesScannedMax: 4_096,
  /** Names tried for one item when its first choice is taken (the same inode removed twice in one second). */
  metaTrashNameAttemptsMax: 16,
  /** Inodes one purge transaction deletes at most: a tenth of what one recursive remove may. */
  metaTrashPurgeInodesPerTransaction: 1_000,
  /** Transactions one purgeTrash call runs at most before it answers (the caller calls again). */
  metaTrashPurgeTransactionsPerCall: 64,
  /** How often the cleaner looks for expired items by default ([meta.trash] cleaner_interval_ms). */
  metaTrashCleanerIntervalMsDefault: 60_000,
  /** Expired items one cleaner pass takes up at most; the rest wait for the next pass. */
  metaTrashCleanerItemsPerPass: 256,
  /** Transactions one cleaner pass runs at most (a large expired tree takes several passes). */
  metaTrashCleanerTransactionsPerPass: 256,
  /** Items `admin trash-list`, `trash-restore` and `trash-purge` read at most to group a user's trash. */
  adminTrashItemsMax: 1_000_000,

  // --- directory quotas (meta/quota/, admin quota-*)
  /** Quotas one inode may count against (quotas nested inside quotas): its record lists their ids. */
  metaQuotaNestingMax: 8,
  /** Entries the count of a new quota's existing tree takes up per transaction. */
  metaQuotaCountEntriesPerTransaction: 500,
  /** Count transactions one quotaSet call runs at most before it answers (the caller calls again). */
  metaQuotaCountTransactionsPerCall: 64,
  /** Quotas one quotaList page returns at most (each costs a walk up its directory's ancestors for its path). */
  metaQuotaListPageMax: 256,
  /**
   * Bytes a writer is granted past what it needs when it writes beyond its grant (a file's grant is
   * held against its quotas until the file's last write session closes): one meta call per this
   * many bytes a writer appends, and the most an idle writer holds back from others.
   */
  metaQuotaGrantBytes: 8 * 1024 * 1024,
  /**
   * A change at least this far below a quota's limit reads the quota's usage without joining the
   * conflict set (changes in one tree then never conflict on it); closer to the limit it joins it,
   * so concurrent changes near the limit serialize and the limit holds exactly.
   */
  metaQuotaExactMarginBytes: 1024 * 1024 * 1024,
  metaQuotaExactMarginInodes: 4_096,
  /** How long usage may stay over a soft limit before the soft limit refuses like the hard one (MooseFS's 7 days). */
  quotaGraceSDefault: 7 * 86_400,
  /** The longest grace period one may set: ten years. */
  quotaGraceSMax: 10 * 365 * 86_400,
  /** quotaSet calls `admin quota-set` makes at most to count an existing tree (each counts up to 32,000 entries). */
  adminQuotaCountCallsMax: 1_000_000,

  // --- storage
  /**
   * Updates in one batch message (Storage.cloneChunks, Storage.forwardBatch): each is applied as if
   * sent alone, so the bound is on the work one message starts on a target (as many chunk locks
   * and engine operations) and on the size of its reply, not on correctness.
   */
  storageUpdateBatchMax: 64,
  /** Largest chunk any target accepts: 64 MiB, as 3FS; the default RPC frame limit leaves room for it. */
  storageChunkBytesMax: 64 * 1024 * 1024,
  /**
   * Bytes covered by one stored CRC32C inside a chunk: a small read verifies only the blocks it
   * touches (at most this much extra reading) instead of the whole chunk.
   */
  storageChecksumBlockBytes: 64 * 1024,
  /** Free space a target keeps back by default, so the metadata database can always commit. */
  storageFreeSpaceReserveBytesDefault: 64 * 1024 * 1024,
  /** Writes that may wait for one chunk's lock; more are refused with ChunkBusy rather than queued. */
  storageChunkLockWaitersMax: 64,
  /** Deadline of a client's write through the whole chain unless the caller passes its own. */
  storageWriteTimeoutMsDefault: 20_000,
  /** Time each hop keeps for itself before forwarding, so a successor's timeout reaches the head first. */
  storageForwardMarginMs: 200,
  /** Targets one storage process serves at most: bounds every per-target list it keeps and reports. */
  storageTargetsPerNodeMax: 256,
  /**
   * Deadline of one `Storage.syncTargets` call (a client's fsync): a sync writes back everything
   * dirty on the target's disk since the last one, seconds after a burst of writes on a slow disk,
   * so it gets longer than a chunk RPC. The client retries within its I/O deadline as for writes.
   */
  storageSyncTimeoutMs: 60_000,
  /**
   * libuv threads `3fs local` and the NixOS module give storage_main (UV_THREADPOOL_SIZE): the
   * native chunk engine's reads, writes and syncs run there, and libuv's own default is 4.
   */
  storageThreadPoolSizeDefault: 16,
  /**
   * V8's initial old generation (MiB) for the data-path processes (storage_main, the FUSE
   * daemon): their payload buffers otherwise set off a full collection every few hundred MiB
   * moved. Memory is only committed as the heap grows.
   */
  dataPathInitialOldSpaceMiB: 256,
  /**
   * How long a storage target reuses its last statfs for the free-space check before a write, and
   * how much free space it needs to: nearer to full, every write asks the file system again.
   */
  storageFreeSpaceProbeMaxAgeMs: 1_000,
  storageFreeSpaceProbeMarginBytes: 4 * 1024 ** 3,
  /** Chunk records one dump page returns at most, so one reply stays well below the RPC body limit. */
  storageDumpChunksMax: 10_000,
  /** Chunks one scrub page reads and verifies at most, so one call stays within its deadline. */
  storageScrubChunksMax: 1_000,
  /** Attempts of a read at one replica when the chunk changed under it (a commit raced the read). */
  storageReadAttemptsMax: 4,
  /**
   * How long meta, storage, mgmtd and the collector keep serving after the supervisor that started
   * them (`3fs local`) is gone, so the FUSE daemon, stopping at the same moment, can flush the
   * writes it buffered to them before they stop. A few seconds covers the daemon's write buffers.
   */
  serviceSupervisorGoneGraceMs: 5_000,
  /**
   * Data files one target keeps open for reading, so a read costs one system call instead of
   * three (open, read, close): as many as the open-file limit allows (a share of it divided over
   * the targets), within these bounds. 4096 covers a 4 GiB working set of 1 MiB chunks.
   */
  storageReadHandlesPerTargetMin: 32,
  storageReadHandlesPerTargetMax: 4096,
  /**
   * Share of the process's open-file limit that read handles may take over all targets; the rest
   * is for sockets, sqlite and the files being written.
   */
  storageReadHandlesLimitShare: 0.5,
  /**
   * Committed chunk rows one target keeps parsed in memory, so a read neither queries sqlite nor
   * validates the row again. A row is about 1 KiB with the block checksums of a 1 MiB chunk, so
   * this bounds the cache near 8 MiB per target.
   */
  storageChunkMetadataCachedMax: 8192,
  /**
   * Recovery (DESIGN §7): bytes per second one storage process copies to syncing targets by
   * default, so client I/O keeps most of the disk; configurable as recovery_bandwidth_bytes_per_s.
   */
  storageRecoveryBandwidthBytesPerSDefault: 128 * 1024 * 1024,
  /**
   * Chunks one recovery copies at once by default (recovery_concurrency): two keep a disk busy with
   * copies while clients with a few writes in flight keep most of it (bench/recovery.bench.ts).
   */
  storageRecoveryConcurrencyDefault: 2,
  /** Deadline of copying one chunk to a syncing target (its lock wait, read and send). */
  storageRecoveryChunkTimeoutMs: 30_000,
  /** Attempts at one chunk within one recovery pass before the pass fails and starts over later. */
  storageRecoveryChunkAttemptsMax: 5,
  /** Wait before a failed recovery pass starts over, so a broken peer is not hammered. */
  storageRecoveryRetryMs: 1_000,
  /** Finished recoveries a process remembers for progress reports (the oldest are forgotten). */
  storageRecoveryFinishedKept: 16,
  /** How often each target's disk is probed (directory present, a small write readable) by default. */
  storageDiskCheckIntervalMsDefault: 1_000,
  /** Deadline of one disk probe: a disk that hangs this long counts as failed. */
  storageDiskCheckTimeoutMs: 10_000,
  /**
   * Updates left pending by a failed write are settled in the background after this long (a later
   * write of the chunk settles them sooner), so replicas converge without further writes.
   */
  storageSettleIntervalMs: 1_000,
  /** Chunks with a pending update awaiting settlement that one target tracks at most. */
  storageUnsettledChunksMax: 10_000,
  /**
   * Chunks a process remembers as possibly held at a newer version by a successor than by itself
   * (its own write failed while the update was on its way down the chain). At the bound, updates
   * write locally before forwarding again, which never leaves a successor ahead.
   */
  storageSuccessorAheadChunksMax: 10_000,

  // --- client library (DESIGN §9)
  /** Deadline of one meta call attempt; a mutation on a busy KV may take a while. */
  clientMetaTimeoutMsDefault: 20_000,
  /** Attempts of one meta call across meta services (failover) before it fails. */
  clientMetaAttemptsMax: 6,
  /** How long a meta service that failed to answer is tried last. */
  clientMetaPenaltyMs: 5_000,
  /**
   * How long a meta call keeps retrying, past its attempts, while no meta service can be reached
   * at all (connections refused or closed): a crashed service is restarted by its supervisor
   * within seconds (systemd's RestartSec=2, `3fs local`'s backoff), and a call waiting for it is
   * better than an EIO. Beyond it the call fails with MetaUnreachable.
   */
  clientMetaOutageWaitMsDefault: 60_000,
  /** Deadline of one chunk RPC attempt (a 64 MiB chunk on a slow disk still fits). */
  clientChunkTimeoutMsDefault: 20_000,
  /**
   * How long one chunk operation keeps retrying (fresh routing info, other replicas) before it
   * fails: covers mgmtd noticing a dead storage service (heartbeat timeout) and the chain moving on.
   */
  clientIoDeadlineMsDefault: 60_000,
  /** Attempts of one chunk operation within its deadline, whatever the deadline. */
  clientIoAttemptsMax: 60,
  /** Backoff between attempts of a chunk operation: doubles from the first to the maximum, jittered. */
  clientRetryBackoffMsInitial: 20,
  clientRetryBackoffMsMax: 1_000,
  /** Chunk I/Os one file request (a read, a flush) runs at once. */
  clientRequestIoConcurrencyDefault: 8,
  /** Chunk I/Os the whole client runs at once; more wait in line (bounded by the requests waiting). */
  clientIoConcurrencyDefault: 64,
  /**
   * Chunk I/Os, and writes waiting for buffer space, that may wait in line at once in one client.
   * Callers bound them long before (a FUSE session's requests, a program's threads); beyond it a
   * runaway caller gets Client.Overloaded instead of unbounded memory.
   */
  clientWaitersMax: 65_536,
  /** Buffered, not yet stored bytes of one file: a writer waits beyond it. */
  clientWriteBufferBytesPerFileDefault: 16 * 1024 * 1024,
  /** Buffered, not yet stored bytes of the whole client. */
  clientWriteBufferBytesTotalDefault: 256 * 1024 * 1024,
  /** Separate buffered writes of one file kept before they are sent anyway (random small writes). */
  clientWriteExtentsPerFileMax: 256,
  /** Bytes read ahead of a sequential reader of one open file (0: no read-ahead). */
  clientReadAheadBytesDefault: 8 * 1024 * 1024,
  /**
   * Reads of one region this long of a chunk go to the same serving replica first (each region's
   * replica picked by a hash of the chunk and the region), so a block read once is in that
   * replica's page cache when it is read again, by this client or any other, and the storage
   * service's read-ahead around it serves its neighbours; different regions spread over the
   * replicas. A region, not the whole chunk: a large sequential read still draws on every replica.
   */
  clientReadRegionBytes: 1024 * 1024,
  /** Read-ahead bytes held by the whole client; prefetching pauses beyond it. */
  clientReadAheadBytesTotalMax: 256 * 1024 * 1024,
  /** How often the highest written offset of files open for writing is reported to meta. */
  clientLengthReportIntervalMsDefault: 5_000,
  /** Files and directories one client keeps open at once. */
  clientOpenFilesMax: 65_536,
  /** How often a client without heartbeats asks mgmtd for newer routing info. */
  clientRoutingRefreshMsDefault: 2_000,
  /** Directory entries one readdir page asks meta for. */
  clientReaddirPageEntries: 512,
  /**
   * Chunks a punched hole or zeroed range is planned for at a time (their updates run a request's
   * concurrency at once): a hole over a huge file costs bounded memory, not one entry per chunk.
   */
  clientZeroChunksPerRoundMax: 1_024,
  /**
   * Chunks of a cloned file planned at a time (sent in batches of storageUpdateBatchMax per chain,
   * clientCloneBatchesInflightMax at once), for the same reason: cloning a huge file costs bounded
   * memory.
   */
  clientCloneChunksPerRoundMax: 1_024,
  /**
   * Clone batches one file's clone keeps in flight. A clone update moves no data: what it costs is
   * per message, which batches spare; a few batches at once keep every replica of the chain busy
   * (one commits a batch while the next arrives) without queueing thousands of chunk locks.
   */
  clientCloneBatchesInflightMax: 4,

  // --- `3fs local`: the supervisor of a cluster on one machine
  /** Wait before restarting a service that died: systemd's RestartSec=2 in module.nix. */
  localRestartDelayMsInitial: 2_000,
  /** The wait doubles with each restart in the window up to this, so a crash loop slows down. */
  localRestartDelayMsMax: 16_000,
  /**
   * Restarts of one service within the window before the cluster is stopped (systemd's
   * StartLimitBurst): a service that keeps dying needs a person, not more restarts. 5 restarts
   * with the backoff above take 46 s at least, so the window must be longer (checkRestartLimits).
   */
  localRestartsMax: 5,
  localRestartWindowMs: 120_000,
  /**
   * How long the FUSE daemon may take to unmount and flush on a stop before it is killed and its
   * mount detached: its own unmount drain (fuseUnmountDrainMs) and a flush of buffered writes.
   */
  localStopFuseMsMax: 15_000,
  /** How long each group of services may take to stop before it is killed. */
  localStopServicesMsMax: 10_000,
  /** How long probing a mount point left by an earlier run may take before it counts as dead. */
  localMountProbeMsMax: 5_000,

  // --- stored records (common/record-codec.ts)
  /** Decoded records kept for a later read of the same bytes, across all record kinds. */
  recordDecodeCacheEntriesMax: 8_192,
  /** Records longer than this are decoded on every read (a key this long costs more than it saves). */
  recordDecodeCacheKeyBytesMax: 1_024,

  // --- FUSE daemon (DESIGN §10)
  /**
   * How long the kernel may cache attributes and names: short, so changes made by other clients
   * show within a second; changes made through this mount are pushed to the kernel at once.
   */
  fuseAttrTimeoutMsDefault: 1_000,
  fuseEntryTimeoutMsDefault: 1_000,
  /** How long the kernel remembers that a name does not exist. */
  fuseNegativeTimeoutMsDefault: 1_000,
  /**
   * Entries in the reply to a listing's first READDIRPLUS. The kernel asks for attributes with the
   * first page of every listing, and instantiates an inode for each entry that carries them; past
   * this many it asks again with plain READDIR, unless something looked the entries up in between
   * (`ls -l`), in which case it keeps asking READDIRPLUS and gets full pages. A small directory
   * still comes back whole, with attributes, in one round trip.
   */
  fuseReaddirplusFirstReplyEntries: 32,
  /** Largest FUSE read and write: the kernel's ceiling (256 pages). */
  fuseMaxWriteBytesDefault: 1024 * 1024,
  fuseMaxReadBytesDefault: 1024 * 1024,
  /**
   * Largest read the FUSE binding answers itself (fuse fast_read_max_bytes): random reads of a
   * few pages, while sequential readers, whose kernel read-ahead asks for more, keep the client's
   * read-ahead window.
   */
  fuseFastReadBytesMaxDefault: 128 * 1024,
  /**
   * Largest listing (bytes of packed readdir records, about 32 per name) the FUSE daemon hands to
   * its binding for each open directory handle, to answer READDIRs without JavaScript; a longer one
   * is answered by JavaScript, so one handle's copy stays under this.
   */
  fuseServedListingBytesMax: 4 * 1024 * 1024,
  /** Largest read a storage read channel answers (the FUSE binding's fast reads stay below it). */
  storageReadChannelBytesMax: 16 * 1024 * 1024,
  /** Kernel read-ahead per file: several 1 MiB reads in flight for a sequential reader. */
  fuseMaxReadaheadBytesDefault: 4 * 1024 * 1024,
  /** How long unmounting waits for requests in flight before answering them EIO. */
  fuseUnmountDrainMs: 5_000,
  /**
   * How long the absence of "security.capability" on an inode is remembered: the kernel asks for
   * it before every write, and asking meta each time would double the cost of small writes.
   */
  fuseCapabilityCacheMs: 1_000,
  /**
   * Free inodes statfs reports (df -i): inodes are KV records with no table to fill, so the supply
   * is a constant, large enough that no tool refuses to create files for want of inodes, and
   * within 32 bits so that old statfs callers see it whole.
   */
  fuseStatfsInodesFree: 2 ** 31,
  /**
   * How often the FUSE daemon asks every meta service for the changes other clients made, and
   * drops what it and the kernel cached of them: the bound on how stale a cached name or attribute
   * can be (plus one round trip). Changes made through the mount itself show at once.
   */
  fuseMetadataPollMsDefault: 500,
  /**
   * How long the kernel may cache names and attributes the daemon's metadata cache tracks: the
   * change polls invalidate them, so this only bounds how long an entry outlives a lost poll.
   */
  fuseCachedTimeoutMsDefault: 60_000,
  /**
   * Names and inodes the daemon's metadata cache holds (about 200 bytes each); the least recently
   * used go first, and the kernel is told to forget them too.
   */
  fuseMetadataCacheEntriesMax: 500_000,
  /**
   * After this long without a successful poll of some meta service, the cache is dropped (and the
   * kernel's copies with it) and not used until polls succeed again.
   */
  fuseMetadataPollStaleMs: 2_000,

  // --- sqlite commit interval (kv/sqlite-wal-sync.ts)
  /**
   * With `synchronous = "interval"` a commit is in the WAL in the page cache when acknowledged
   * (it survives the death of any process) and on disk at most this long after (plus one
   * fdatasync). One second keeps the power-loss window five times shorter than ext4's default
   * journal commit (5 s) while costing at most one fdatasync per second however many files are
   * created; an application that needs more calls fsync on the file or its directory.
   */
  kvSqliteCommitIntervalMsDefault: 1_000,
  /** Bounds of `commit_interval_ms`: below 10 ms the interval costs as much as syncing every commit. */
  kvSqliteCommitIntervalMsMin: 10,
  kvSqliteCommitIntervalMsMax: 60_000,

  // --- NFS gateway (src/nfs)
  /**
   * The largest READ and WRITE the gateway offers (rtmax, wtmax, and NFSv4's maxread/maxwrite):
   * 1 MiB, the size FUSE requests and the client library's write slices have, so one NFS request
   * is one client-library call.
   */
  nfsIoBytesMax: 1024 * 1024,
  /** A record (one RPC call) at most: the largest WRITE with room for its headers and a COMPOUND's other operations. */
  nfsRecordBytesMax: 1024 * 1024 + 64 * 1024,
  /** Fragments of one record at most (clients send one; many tiny ones only cost us). */
  nfsRecordFragmentsMax: 256,
  /** A reply at most: the largest READ with room for its attributes. */
  nfsReplyBytesMax: 1024 * 1024 + 64 * 1024,
  /** Calls of one connection handled at once; further records wait (bounded by one socket read) and reading pauses. */
  nfsCallsPerConnectionMax: 32,
  /** Reply bytes a connection's socket may hold unsent before the gateway stops reading its calls. */
  nfsConnectionUnsentBytesMax: 8 * 1024 * 1024,
  /** Client connections at once by default; more are refused at accept. */
  nfsConnectionsMaxDefault: 1_024,
  /** A connection idle this long is closed (clients reconnect on their next call), as Linux's server does after 6 minutes. */
  nfsConnectionIdleMsDefault: 6 * 60_000,
  /**
   * How long a file opened for NFS reads or writes stays open after its last use. NFSv3 has no
   * open or close: the gateway keeps files open between requests (read-ahead, write buffers) and
   * closes them when idle, which sends their writes and reports their length to meta, so other
   * clients see the file within about this long plus the client library's report interval.
   */
  nfsOpenFileIdleMsDefault: 3_000,
  /** Files the gateway keeps open at most; past it the least recently used idle ones are closed. */
  nfsOpenFilesMaxDefault: 1_024,
  /** Directory positions remembered for READDIR cookies (a miss re-reads the directory from its start). */
  nfsReaddirCursorsMax: 16_384,
  /** Entries one READDIR or READDIRPLUS reply lists at most, whatever the client's byte counts allow. */
  nfsReaddirEntriesMax: 1_024,
  /** How long a stop waits for calls in flight before it closes connections. */
  nfsStopDrainMs: 5_000,
  /** The NFSv4 lease (seconds) clients renew within; the gateway keeps no state that expires with it. */
  nfs4LeaseSeconds: 90,
  /** Operations one NFSv4 COMPOUND may carry (Linux sends at most about 20). */
  nfs4CompoundOperationsMax: 128,

  // --- S3 gateway (src/s3) and its access keys in meta
  /** Access keys one s3KeyList page returns at most. */
  metaS3KeyListPageMax: 1_000,
  /** How long a gateway uses a key it looked up before asking meta again: a removed key works this long at most. */
  s3KeyCacheMs: 30_000,
  /** How long an unknown access key id is remembered as unknown (requests with made-up ids cost meta little). */
  s3KeyMissCacheMs: 2_000,
  /** Access keys (and unknown ids) a gateway keeps cached; the oldest go first. */
  s3KeyCacheEntriesMax: 10_000,
  /** How far a signed request's date may be from the gateway's clock: AWS's 15 minutes. */
  s3ClockSkewMsMax: 15 * 60_000,
  /** The largest object one PutObject or CopyObject makes: S3's 5 GiB. */
  s3PutObjectBytesMax: 5 * 1024 * 1024 * 1024,
  /** The largest part of a multipart upload: S3's 5 GiB. */
  s3PartBytesMax: 5 * 1024 * 1024 * 1024,
  /** The smallest part of a multipart upload but its last: S3's 5 MiB. */
  s3PartBytesMin: 5 * 1024 * 1024,
  /** Parts of one multipart upload: S3's 10,000. */
  s3PartsMax: 10_000,
  /** A key's UTF-8 bytes: S3's 1,024. */
  s3KeyBytesMax: 1_024,
  /** The x-amz-meta-* names and values of one object together: S3's 2 KiB. */
  s3UserMetadataBytesMax: 2_048,
  /** An XML request body (1,000 keys of 1 KiB to delete; 10,000 parts to complete). */
  s3XmlBodyBytesMax: 2 * 1024 * 1024,
  /** Elements of an XML request body, and their nesting. */
  s3XmlElementsMax: 40_000,
  s3XmlDepthMax: 16,
  /** Keys one DeleteObjects names at most: S3's 1,000. */
  s3DeleteObjectsMax: 1_000,
  /** Keys, prefixes, uploads or parts one listing page returns at most: S3's 1,000. */
  s3ListPageMax: 1_000,
  /** Directory entries one listing request reads at most before it answers a truncated page. */
  s3ListEntriesScannedMax: 100_000,
  /** Metadata lookups (stat, extended attributes) one listing runs at once. */
  s3ListLookupConcurrency: 16,
  /** Bytes one read of an object asks the client library for while a GET streams it. */
  s3ReadBlockBytes: 4 * 1024 * 1024,
  /** Bytes one write hands the client library while a PUT streams in (small pieces are gathered). */
  s3WriteBlockBytes: 1024 * 1024,
  /** Connections one gateway serves at once by default. */
  s3ConnectionsMaxDefault: 1_024,
  /** A connection that sends or takes nothing for this long is closed (a stalled upload). */
  s3SocketIdleMsDefault: 120_000,
  /** A request's headers must arrive within this. */
  s3HeadersTimeoutMs: 30_000,
  /** How long an idle keep-alive connection stays open. */
  s3KeepAliveMs: 30_000,
  /** How long a stop waits for requests in flight before it closes their connections. */
  s3StopDrainMs: 10_000,
  /** PutObject bodies above this are checked against the target's permissions before they are read. */
  s3CheckTargetBytesMin: 1024 * 1024,
  /** The S3 gateway's periodic length reports: an hour, as its files report when they close (s3/gateway.ts). */
  s3LengthReportIntervalMs: 3_600_000,
  /** Staging files (uploads in progress) older than this are an upload a dead gateway left: removed. */
  s3StagingMaxAgeMs: 24 * 3_600_000,
  /** How often a gateway looks for such staging files. */
  s3StagingSweepMs: 3_600_000,
} as const;

/** Asserts the relationships between limits that the design relies on. */
export function checkLimitRelations(values: {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  leaseMs: number;
  leaseRenewMs: number;
}): void {
  // A node must get at least three chances to heartbeat before it is declared offline.
  assert(
    values.heartbeatIntervalMs * 3 <= values.heartbeatTimeoutMs,
    'heartbeat_timeout_ms >= 3 * heartbeat_interval_ms',
  );
  // A primary must renew its lease at least twice within the lease, or a slow tick loses it.
  assert(values.leaseRenewMs * 2 <= values.leaseMs, 'lease_ms >= 2 * lease_renew_ms');
}
