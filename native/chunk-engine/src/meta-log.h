// The metadata log of an engine: `<dir>/meta-<generation>.log`, a sequence of framed records
//
//   magic u32 | crc32c u32 | payload bytes u32 | sequence u64 | payload
//
// (little endian; the CRC32C covers everything after itself). The first record is the header
// (format, target id, block and slot sizes); each later one sets a chunk's committed version (a
// delta: the fields, the block count and the block map entries that changed) or deletes it.
// Sequences count up by one from 1 in each file. Replay stops at the first record that does not
// verify or breaks the sequence: that is a write torn by a crash, and the file is cut there, so no
// stale record past it can ever be read as valid later.
//
// Applying a record twice in a row, or to a state that already holds it, gives the same state.
// Compaction relies on that: it writes the state (plus the records not yet applied to it) as a new
// file, and records queued meanwhile may land in the new file after the state that already has them.
//
// Writers group-commit: concurrent appends share one write and, when durable, one fdatasync. The
// file is preallocated ahead of its end, so a full disk fails an append before it writes anything.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data-files.h"
#include "slot-allocator.h"

namespace chunk_engine {

using ChunkKey = std::array<uint8_t, 12>;  // big-endian inode, then big-endian index

struct BlockRef {
  SlotRef slot;
  uint32_t crc;
};

/**
 * The slot of a block that holds only zeros and takes no slot (a range zeroed by fallocate's punch
 * hole or zero range): reads fill it with zeros, and its crc is that of its zero bytes. No size
 * class reaches 0xff, so no real slot has this reference. An engine from before holes refuses a
 * log that names one (an inconsistent block map) rather than misreading it.
 */
constexpr SlotRef kHoleSlot = ~1ull;

struct ChunkVersion {
  uint32_t version = 0;
  uint32_t chainVersion = 0;
  uint32_t length = 0;
  uint32_t checksum = 0;
  std::vector<BlockRef> blocks;
};

struct LogHeader {
  uint32_t format = 1;
  uint32_t targetId = 0;
  uint32_t blockBytes = 0;
  uint32_t minSlotBytes = 0;
  uint64_t fileBytes = 0;
};

using Payload = std::shared_ptr<const std::string>;

Payload EncodePut(const ChunkKey& key, const ChunkVersion& next, const ChunkVersion* previous);
Payload EncodeDelete(const ChunkKey& key);

/** What replay found: the header, the committed versions, and where the valid records end. */
struct ReplayState {
  LogHeader header;
  std::map<ChunkKey, ChunkVersion> chunks;
  uint64_t validBytes = 0;
  uint64_t lastSequence = 0;
  bool tornTail = false;
};

/** A failure with a kind the addon maps to a status code. */
struct EngineFailure {
  enum class Kind {
    None,
    Io,             // a disk error (errno in `error`)
    NoSpace,        // ENOSPC / EDQUOT: nothing of the update was kept
    CorruptLog,     // the metadata log holds a record that verifies but makes no sense
    Config,         // the directory belongs to another target, or another format
    Closed,         // the engine was closed
    Busy,           // an update of the chunk is already in flight
    Invalid,        // an argument of the wrong type or shape
    NotFound,       // the chunk has no such version
    Corrupted,      // chunk data fails its checksum (`block`: the block, -1 the whole chunk)
    OutOfRange,     // an offset or length past the chunk size
    LengthMismatch, // a payload whose length differs from the length announced
    TooLarge,       // a payload larger than a chunk
    VersionMismatch,// a clone's source chunk is not at the version the clone expects
    ChecksumMismatch,// a payload whose CRC32C differs from the one announced (nothing committed)
  } kind = Kind::None;
  int error = 0;
  std::string message;
  int64_t block = -1;
  int64_t version = -1;  // a corrupted read: the version it read
};

class MetaLog {
 public:
  MetaLog(std::string directory, bool durable, uint64_t growBytes);
  ~MetaLog();

  /**
   * Opens the newest log (creating one with `header` when there is none), replays it into
   * `state`, cuts a torn tail, and deletes older generations and unfinished compactions.
   */
  bool Open(const LogHeader& header, ReplayState* state, EngineFailure* failure);
  /** Appends one record; returns once it is written (and fdatasynced when durable). */
  bool Append(const Payload& payload, EngineFailure* failure);
  /**
   * Appends records in order, in one write with whatever else is queued; returns once all are
   * written (and fdatasynced when durable). They succeed or fail together.
   */
  bool AppendMany(const std::vector<Payload>& payloads, EngineFailure* failure);
  /** Returns once every record appended before the call is on stable storage. */
  bool Sync(EngineFailure* failure);
  /**
   * Replaces the log by a new generation holding what `snapshot` returns (called while no append
   * runs; records appended afterwards go to the new file).
   */
  bool Compact(const std::function<std::vector<Payload>()>& snapshot, EngineFailure* failure);
  uint64_t Bytes();
  uint64_t Generation();
  void Close();

 private:
  bool Submit(const Payload* payloads, size_t count, bool wantSync, EngineFailure* failure);
  void Lead(std::unique_lock<std::mutex>& lock);
  bool WriteRecords(int fd, uint64_t* end, uint64_t* allocated, uint64_t* sequence,
                    const std::vector<Payload>& batch, EngineFailure* failure, bool* poisoned);
  std::string PathOf(uint64_t generation) const;

  const std::string directory_;
  const bool durable_;
  const uint64_t growBytes_;
  LogHeader header_;

  std::mutex lock_;
  std::condition_variable changed_;
  int fd_ = -1;
  uint64_t generation_ = 0;
  uint64_t end_ = 0;        // bytes of valid records
  uint64_t allocated_ = 0;  // bytes preallocated
  uint64_t nextSequence_ = 1;
  bool writing_ = false;    // a leader (or a compaction) owns the file
  bool syncWanted_ = false;
  bool failed_ = false;     // a write or sync failed in a way that leaves the file's state unknown
  EngineFailure failedWith_;
  std::vector<Payload> queue_;
  uint64_t enqueued_ = 0;
  uint64_t writtenUpTo_ = 0;
  uint64_t syncedUpTo_ = 0;
  std::map<uint64_t, std::pair<uint64_t, EngineFailure>> failedBatches_;  // last ticket -> first, why
};

}  // namespace chunk_engine
