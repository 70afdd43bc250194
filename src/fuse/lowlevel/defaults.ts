/**
 * Defaults and limits of the FUSE binding, each with its unit and the reason for it. (They belong
 * with the rest in common/limits.ts once the FUSE daemon reads them from its configuration.)
 */
export const fuseDefaults = {
  /**
   * Largest write and read the kernel sends in one request. 1 MiB is the kernel's ceiling
   * (fs.fuse.max_pages_limit, 256 pages) and libfuse's buffer size; the negotiated value may be lower.
   */
  maxWriteBytes: 1024 * 1024,
  maxReadBytes: 1024 * 1024,
  /** Readahead the kernel may do per file; the kernel's own offer is the upper bound. */
  maxReadaheadBytes: 1024 * 1024,
  /** Asynchronous requests (readahead, writeback) the kernel keeps outstanding; its default is 12. */
  maxBackground: 64,
  /**
   * Threads reading /dev/fuse, or 0: the event loop reads it itself. Worker threads only copy and
   * queue (the handlers run on the event loop), and each request they hand over costs a wake-up
   * of the event loop's thread on top of their own; reading on that thread saves it, which in
   * measurements gave 15% less CPU per file created and no change to sequential throughput.
   */
  threads: 0,
  /** Requests answered by JavaScript at once; more wait in the kernel (back-pressure). */
  maxInflight: 256,
  /** How long the kernel caches attributes and names when a reply does not say. */
  attrTimeoutMs: 1_000,
  entryTimeoutMs: 1_000,
  /** How long mount() waits for the kernel's INIT after the mount syscall succeeded. */
  initTimeoutMs: 10_000,
  /** How long unmount() lets handlers in flight finish before answering them with EIO. */
  drainTimeoutMs: 5_000,
  /** Poll interval while draining handlers in flight. */
  drainPollMs: 5,
  /** How long the unmount triggered by SIGINT/SIGTERM waits for handlers in flight. */
  signalDrainTimeoutMs: 2_000,
  /** Deadline of `fusermount3 -u` when clearing a stale mount as a user. */
  fusermountTimeoutMs: 10_000,
} as const;
