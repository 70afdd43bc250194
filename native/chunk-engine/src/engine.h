// The chunk engine of one target, free of N-API: the in-memory chunk index, the slot allocator,
// the data files and the metadata log. Each operation that touches the disk comes in three steps:
// Begin (on the JavaScript thread, under the state lock: validate, plan, allocate), Run (on a
// worker thread, without the state lock: read, verify, checksum, write, sync) and Finish (on the
// JavaScript thread again: install the outcome). Queries (Stat, List, ...) answer at once from
// memory. See engine.cc for why a crash at any instant is safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "data-files.h"
#include "meta-log.h"
#include "slot-allocator.h"

namespace chunk_engine {

struct EngineOptions {
  std::string directory;
  uint32_t targetId = 0;
  uint32_t blockBytes = 64 * 1024;
  uint32_t minSlotBytes = 4096;
  uint64_t dataFileBytes = 1ull << 30;
  uint64_t growBytes = 16ull << 20;
  uint32_t chunkBytesMax = 64u << 20;
  uint64_t compactMinBytes = 64ull << 20;
  bool durable = true;
  /** Page-aligned block writes bypass the page cache (data-files.h). */
  bool directWrites = true;
  /**
   * Reads of at least this many bytes into page-aligned memory bypass the page cache
   * (data-files.h); 0: none do. A large read is a stream that seldom comes back to the same bytes
   * soon; copying it out of fresh cache pages, and reclaiming them later, cost the storage
   * services more CPU than the disks needed.
   */
  uint64_t directReadBytesMin = 0;
  /** Small reads may go through io_uring on the JavaScript thread (the addon's read ring). */
  bool readRing = true;
};

struct VersionInfo {
  uint32_t version = 0;
  uint32_t chainVersion = 0;
  uint32_t length = 0;
  uint32_t checksum = 0;
};

struct ChunkState {
  std::optional<VersionInfo> committed;
  std::optional<VersionInfo> pending;
  bool removed = false;  // the pending version removes the chunk
};

enum class UpdateKind { Write = 0, Replace = 1, Truncate = 2, Remove = 3, Zero = 4, Clone = 5 };

struct UpdateInput {
  UpdateKind kind = UpdateKind::Write;
  uint64_t offset = 0;          // write, zero
  uint64_t length = 0;          // write / replace: the payload's announced length; truncate: the new length;
                                // zero: the length of the range
  const uint8_t* data = nullptr;
  uint64_t dataLength = 0;
  // write / replace: the payload arrives unchecked, and the prepare checks it against this CRC32C
  // from the block checksums it computes anyway (one pass over the bytes, not two), failing with
  // ChecksumMismatch before the version can be committed.
  bool checkData = false;
  uint32_t expectedDataCrc = 0;
  uint32_t version = 0;
  uint32_t chainVersion = 0;
  ChunkKey source{};           // clone: the chunk whose committed version the new version shares
  uint32_t sourceVersion = 0;  // clone: the committed version `source` must be at (0: absent)
};

/** One block an update writes. */
struct BlockWrite {
  uint32_t index = 0;
  SlotRef slot = 0;
  uint32_t newLength = 0;   // the block's length in the new version
  uint32_t writeFrom = 0;   // first byte of the block written (the old length for an in-place append)
  uint32_t changeFrom = 0;  // first byte that differs from the old version (for the chunk checksum)
  uint32_t zeroFrom = 0;    // zero: the block's bytes [zeroFrom, zeroTo) become zeros
  uint32_t zeroTo = 0;
  bool readOld = false;     // copy the old block's bytes (verified) before patching
  bool inPlace = false;     // extend the old block in its own slot
  SlotRef oldSlot = 0;
  uint32_t oldLength = 0;
  uint32_t oldCrc = 0;
};

struct PrepareJob {
  ChunkKey key{};
  UpdateInput input;
  bool removed = false;
  ChunkVersion next;
  uint32_t oldLength = 0;
  uint32_t oldChecksum = 0;
  bool pureAppend = false;
  std::vector<BlockWrite> writes;
  std::optional<BlockWrite> shrink;  // the new last block after a shrink: its checksum is recomputed
  std::vector<SlotRef> freshSlots;
  bool clone = false;                // the new version shares the source's slots; nothing is written
  std::vector<SlotRef> sharedSlots;  // slots the clone took a reference on (given back on failure)
};

struct CommitJob {
  ChunkKey key{};
  uint32_t version = 0;
  Payload payload;
};

/** Blocks [first, last] of a read, in consecutive slots of one file (or one hole): one pread. */
struct ReadRun {
  size_t first = 0;
  size_t last = 0;
  uint64_t bytes = 0;
  bool hole = false;
  /** Where the run's bytes go: the result itself, or `scratch` when the run reaches past it. */
  uint8_t* target = nullptr;
  bool inside = false;
  std::unique_ptr<uint8_t[]> scratch;
};

struct ReadJob {
  uint64_t readSequence = 0;
  VersionInfo info;
  bool uncommitted = false;
  uint64_t start = 0;  // requested bytes [start, end), already cut at the version's end
  uint64_t end = 0;
  uint32_t firstBlock = 0;
  std::vector<BlockRef> blocks;  // the blocks under the range
  // Where the bytes go: `into` when the caller gave room for them (it stays alive and unused by
  // anyone else until the read is over), else `data`, allocated by the read.
  uint8_t* into = nullptr;
  uint64_t intoBytes = 0;
  std::vector<ReadRun> runs;  // set by PlanRead
  // Outcome
  std::unique_ptr<uint8_t[]> data;
  uint32_t checksum = 0;
  uint8_t* Bytes() const { return into != nullptr ? into : data.get(); }
};

struct RangeSummary {
  bool hasLast = false;
  uint32_t lastIndex = 0;
  VersionInfo last;
  uint64_t chunkCount = 0;
  uint64_t totalBytes = 0;
  uint64_t uncommittedCount = 0;
};

/** Coalesces concurrent fdatasync requests: one leader syncs for everyone who asked before it began. */
class SyncGroup {
 public:
  bool Sync(const std::function<bool(EngineFailure*)>& action, EngineFailure* failure);

 private:
  std::mutex lock_;
  std::condition_variable changed_;
  uint64_t requested_ = 0;
  uint64_t completed_ = 0;
  bool running_ = false;
  bool failed_ = false;
  EngineFailure failedWith_;
};

class Engine {
 public:
  static std::shared_ptr<Engine> Open(const EngineOptions& options, EngineFailure* failure);
  ~Engine();

  std::optional<ChunkState> Stat(const ChunkKey& key);
  bool HasPending(const ChunkKey& key);
  std::vector<std::pair<ChunkKey, ChunkState>> List(const ChunkKey* after, uint32_t limit);
  RangeSummary Summarize(uint64_t inode, uint64_t beginIndex, uint64_t endIndex);
  std::pair<uint64_t, uint64_t> Totals();

  std::unique_ptr<PrepareJob> BeginPrepare(const ChunkKey& key, const UpdateInput& input, EngineFailure* failure);
  bool RunPrepare(PrepareJob& job, EngineFailure* failure);
  VersionInfo FinishPrepare(PrepareJob& job, bool ok);

  std::unique_ptr<CommitJob> BeginCommit(const ChunkKey& key, uint32_t version, EngineFailure* failure);
  bool RunCommit(CommitJob& job, EngineFailure* failure);
  /** The records of several begun commits in one metadata-log append; each then finishes alone. */
  bool RunCommits(const std::vector<std::unique_ptr<CommitJob>>& jobs, EngineFailure* failure);
  std::optional<VersionInfo> FinishCommit(CommitJob& job, bool ok);

  bool Discard(const ChunkKey& key, EngineFailure* failure);

  std::unique_ptr<ReadJob> BeginRead(const ChunkKey& key, uint64_t offset, uint64_t length, bool pending,
                                     EngineFailure* failure);
  /** With `cachedOnly`, reads only what the page cache holds: any block not there fails the read. */
  bool RunRead(ReadJob& job, EngineFailure* failure, bool cachedOnly = false);
  /**
   * A read in three steps, for a caller doing the I/O itself (the read ring): the runs to read
   * (holes already zero), where a run's bytes are on disk, and the check of what was read.
   * RunRead is these with a pread per run.
   */
  void PlanRead(ReadJob& job);
  bool LocateRun(const ReadRun& run, const ReadJob& job, int* fd, uint64_t* position, EngineFailure* failure);
  bool VerifyRead(ReadJob& job, EngineFailure* failure);
  /**
   * The end of a read the caller did itself (the read ring): `error` (an errno, 0 for none) from
   * the I/O, else the check of what was read; then FinishRead. True when the bytes are good.
   */
  bool FinishRingRead(ReadJob& job, int error, EngineFailure* failure);
  void FinishRead(ReadJob& job);

  /** Background work (sync, compaction, close) counts as in flight too. */
  bool BeginBackground(EngineFailure* failure);
  void FinishBackground();
  bool RunSync(EngineFailure* failure);
  /** True (once, until the compaction finishes) when the metadata log has grown enough to compact. */
  bool WantsCompaction();
  bool RunCompaction(EngineFailure* failure);
  void FinishCompaction(bool ok);

  /** Refuses new operations; RunClose then waits for those in flight, syncs and closes the files. */
  bool MarkClosed();
  bool RunClose(EngineFailure* failure);

  uint32_t blockBytes() const { return blockBytes_; }
  uint64_t LogGeneration() { return log_->Generation(); }
  uint64_t LogBytes() { return log_->Bytes(); }
  uint64_t DirectReads() const { return data_->DirectReads(); }
  uint64_t UsedSlots();
  /** Slots named by more than one chunk (clones that have not diverged there yet). */
  uint64_t SharedSlots();

 private:
  struct Entry {
    std::optional<ChunkVersion> committed;
    std::optional<ChunkVersion> pending;
    bool removed = false;
    bool busy = false;  // a prepare or commit of the chunk is in flight
  };

  Engine(const EngineOptions& options, const LogHeader& header, SizeClasses classes,
         std::unique_ptr<MetaLog> log);
  bool CheckUsable(EngineFailure* failure);
  uint32_t BlockLength(uint32_t length, uint32_t index) const;
  bool Plan(PrepareJob& job, const ChunkVersion* base, EngineFailure* failure);
  void PlanZero(PrepareJob& job, const ChunkVersion& base, uint64_t zeroStart, uint64_t zeroEnd);
  bool PlanClone(PrepareJob& job, const ChunkVersion* base, EngineFailure* failure);
  bool Shared(SlotRef slot) const { return extraRefs_.count(slot) > 0; }
  uint32_t ZeroCrc(uint32_t length) const;
  void DropPending(Entry& entry);
  void FreeSlot(SlotRef slot);
  void ReleaseDeferred();
  void EraseIfEmpty(std::map<ChunkKey, Entry>::iterator found);
  ChunkState StateOf(const Entry& entry) const;
  bool SyncData(EngineFailure* failure);
  uint32_t CombineBlocks(const ChunkVersion& version) const;

  const EngineOptions options_;
  const uint32_t blockBytes_;
  const uint32_t zeroBlockCrc_;  // the CRC32C of a whole block of zeros (a hole's)
  std::unique_ptr<MetaLog> log_;
  std::unique_ptr<DataFiles> data_;
  SyncGroup dataSync_;

  std::mutex lock_;  // guards everything below
  std::condition_variable idle_;
  std::map<ChunkKey, Entry> chunks_;
  std::map<ChunkKey, Payload> inFlightCommits_;
  SlotAllocator allocator_;
  // Per slot named by more than one chunk: how many chunks name it besides the first. A chunk whose
  // committed and pending versions name a slot at the same index counts once, as everywhere else.
  // Not logged: replay rebuilds it by counting the references of the committed block maps.
  std::unordered_map<SlotRef, uint32_t> extraRefs_;
  uint64_t chunkCount_ = 0;
  uint64_t committedBytes_ = 0;
  uint64_t jobsInFlight_ = 0;
  bool closed_ = false;
  bool failed_ = false;
  EngineFailure failedWith_;
  bool compacting_ = false;
  uint64_t compactAtBytes_ = 0;
  // Slots freed while reads may still use them wait here until those reads finish.
  uint64_t readSequence_ = 0;
  std::multiset<uint64_t> activeReads_;
  std::deque<std::pair<uint64_t, SlotRef>> deferredFrees_;
};

}  // namespace chunk_engine
