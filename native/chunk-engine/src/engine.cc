// The native chunk engine. Chunk data lives in slots of large preallocated data files, one series
// per size class (slot-allocator.h, data-files.h); each chunk version is a list of blocks, each
// block a slot and the CRC32C of its bytes; the committed versions are kept in memory and made
// durable by an append-only metadata log with checksummed, group-committed records and periodic
// compaction (meta-log.h). Why a crash at any instant (SIGKILL mid-write included) leaves every
// chunk at its old or its new committed version, with verified checksums:
//
// - Copy on write at block granularity: an update that changes bytes of a committed block writes
//   the new block into a fresh slot. The only in-place write is an append into a block's own slot
//   past the committed length, which no reader of the committed version looks at. So the bytes a
//   committed version names are never written while it is committed.
// - A slot is reused only after the version that named it is gone for good: freed at the commit
//   that drops it, after that commit's log record is written (and, when durable, fdatasynced), and
//   only once every read that might still look at it has finished. Pending versions' slots are
//   never named by the log, so a crash frees them implicitly: replay rebuilds the free map from the
//   committed versions alone.
// - Data before metadata: a prepare writes its blocks (and, when durable, fdatasyncs them with
//   any new data file's directory entry) before it resolves; the commit's log record, written
//   after, is what makes the version committed. A crash before the record is complete leaves the
//   old version (replay ignores a torn record); after it, the new version is whole.
// - The log is replayed record by record, each verified by its CRC32C and its sequence number; the
//   first record that fails ends the log and the file is cut there, so a torn or stale tail is
//   never read as valid. Compaction writes the new generation aside, fdatasyncs it, renames it into
//   place and fsyncs the directory; until the rename the old generation is the log.
// - Pending versions live in memory only, as in the TypeScript store: a storage process that
//   restarts goes through recovery before it serves again (DESIGN §7), so an update lost in a
//   crash is never missed.
// - Every read verifies the CRC32C of each block it touches (and a whole-chunk read the chunk's
//   CRC32C too), so damage on disk is reported, never returned.
// - A payload that arrived unchecked (UpdateInput::checkData) is checked in its prepare against
//   the CRC32C its sender announced, combined from the block checksums the prepare computes; a
//   mismatch fails the prepare, so damage on the way in is never committed.
// - Zeroing a range (fallocate's punch hole and zero range) follows the same rules: a block partly
//   in the range is copied on write with those bytes zeroed; a block wholly in it becomes a hole
//   (kHoleSlot in the block map: no slot, read as zeros, its crc that of zeros), and the slot it
//   had is freed at the commit like any slot a new version drops. The engine's data files stay
//   preallocated: the slot goes back to the engine's free map for the next blocks written, not to
//   the file system, so a full disk still shows up when a data file grows, never mid-write.
// - A clone (copy on write at chunk level) makes a chunk's new version name the slots of another
//   chunk's committed version, block for block at the same indexes, and writes no data: those
//   blocks are durable already, since the source's version was committed (its data synced before
//   its log record). A slot named by several chunks carries a reference count (extraRefs_); it
//   is freed only when the last chunk naming it drops it (by a commit, a remove, or a discarded
//   pending version), and a block in a shared slot is never extended in place (the other chunk
//   may name those bytes past this chunk's end): it is copied on write like any committed block.
//   The counts are not logged: replay rebuilds them by counting, for each slot, the committed block
//   maps that name it, so the crash argument is the one above. The clone's log record is written
//   after the source's record of the version it shares, so a log cut at any record never keeps
//   the clone and loses its source's blocks; should the source's later record (dropping those
//   blocks) survive and the clone's not, the blocks are free again, as nothing names them.
// - Whole page-aligned blocks may be written with O_DIRECT (data-files.h): such a block is at the
//   device, not in the page cache, when its prepare resolves, which changes none of the above:
//   the order of data before the log record is the same, and fdatasync (per prepare when
//   durable, at sync() otherwise) still flushes the device's cache and the data files' extents.
// - Without `durable`, nothing is fdatasynced until sync() (or close): a crash of the process still
//   loses nothing acknowledged (the writes are in the page cache), and sync() makes everything
//   committed before it survive power loss. A power loss between syncs may bring back chunks
//   changed since the last sync at an older version or failing their checksums, never silently
//   wrong data.
#include "engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "crc32c.h"

namespace chunk_engine {
namespace {

constexpr SlotRef kUnsetSlot = ~0ull;
constexpr uint64_t kLogGrowBytes = 1ull << 20;

EngineFailure FromIo(const IoFailure& io) {
  EngineFailure failure{EngineFailure::Kind::Io, io.error, io.what};
  if (io.error == ENOSPC || io.error == EDQUOT) failure.kind = EngineFailure::Kind::NoSpace;
  return failure;
}

bool Refuse(EngineFailure* failure, EngineFailure::Kind kind, const std::string& message) {
  failure->kind = kind;
  failure->error = 0;
  failure->message = message;
  return false;
}

VersionInfo InfoOf(const ChunkVersion& version) {
  return {version.version, version.chainVersion, version.length, version.checksum};
}

}  // namespace

bool SyncGroup::Sync(const std::function<bool(EngineFailure*)>& action, EngineFailure* failure) {
  std::unique_lock<std::mutex> lock(lock_);
  const uint64_t ticket = ++requested_;
  while (completed_ < ticket) {
    if (failed_) break;
    if (running_) {
      changed_.wait(lock);
      continue;
    }
    running_ = true;
    const uint64_t upTo = requested_;
    lock.unlock();
    EngineFailure outcome;
    const bool ok = action(&outcome);
    lock.lock();
    running_ = false;
    if (!ok) {
      // A failed fdatasync may have dropped the dirty pages: no later sync can vouch for them.
      failed_ = true;
      failedWith_ = outcome;
    }
    completed_ = upTo;
    changed_.notify_all();
  }
  if (failed_) {
    *failure = failedWith_;
    return false;
  }
  return true;
}

std::shared_ptr<Engine> Engine::Open(const EngineOptions& options, EngineFailure* failure) {
  if (mkdir(options.directory.c_str(), 0755) != 0 && errno != EEXIST) {
    *failure = {EngineFailure::Kind::Io, errno, "mkdir " + options.directory + ": " + std::strerror(errno)};
    return nullptr;
  }
  LogHeader requested;
  requested.targetId = options.targetId;
  requested.blockBytes = options.blockBytes;
  requested.minSlotBytes = options.minSlotBytes;
  requested.fileBytes = options.dataFileBytes;
  auto log = std::make_unique<MetaLog>(options.directory, options.durable, kLogGrowBytes);
  ReplayState state;
  if (!log->Open(requested, &state, failure)) return nullptr;
  const LogHeader& header = state.header;
  if (header.targetId != options.targetId) {
    Refuse(failure, EngineFailure::Kind::Config,
           "this target directory belongs to target " + std::to_string(header.targetId) + ", not to target " +
               std::to_string(options.targetId));
    return nullptr;
  }
  if (header.format != 1) {
    Refuse(failure, EngineFailure::Kind::Config,
           "chunk engine format " + std::to_string(header.format) + " is not supported (expected 1)");
    return nullptr;
  }
  if (header.blockBytes == 0 || header.blockBytes > (64u << 20) || header.minSlotBytes == 0 ||
      header.minSlotBytes > header.blockBytes || header.fileBytes < header.blockBytes) {
    Refuse(failure, EngineFailure::Kind::CorruptLog, "the metadata log's header names impossible sizes");
    return nullptr;
  }
  // An existing engine keeps the layout it was created with, whatever the options say now.
  SizeClasses classes = SizeClasses::Make(header.blockBytes, header.minSlotBytes, header.fileBytes);
  std::shared_ptr<Engine> engine(new Engine(options, header, classes, std::move(log)));
  IoFailure io;
  if (!engine->data_->Prepare(&io)) {
    *failure = FromIo(io);
    return nullptr;
  }
  for (auto& [key, version] : state.chunks) {
    const uint32_t count = (version.length + header.blockBytes - 1) / header.blockBytes;
    bool valid = version.blocks.size() == count;
    for (uint32_t index = 0; valid && index < count; index++) {
      const SlotRef slot = version.blocks[index].slot;
      if (slot == kHoleSlot) continue;  // a hole takes no slot
      valid = slot != kUnsetSlot && engine->allocator_.Valid(slot) &&
              classes.slotBytes[SlotClass(slot)] >= engine->BlockLength(version.length, index);
      if (!valid || engine->allocator_.MarkUsed(slot)) continue;
      // A slot another chunk names already: a clone shares it (at the same index, so one chunk
      // never names a slot twice). Its reference count is rebuilt here, not read from the log.
      for (uint32_t earlier = 0; valid && earlier < index; earlier++) valid = version.blocks[earlier].slot != slot;
      if (valid) engine->extraRefs_[slot]++;
    }
    if (!valid) {
      Refuse(failure, EngineFailure::Kind::CorruptLog,
             "the metadata log names a chunk whose block map is inconsistent (a slot used twice, or missing)");
      return nullptr;
    }
    engine->chunkCount_++;
    engine->committedBytes_ += version.length;
    engine->chunks_[key].committed = std::move(version);
  }
  engine->compactAtBytes_ = std::max<uint64_t>(options.compactMinBytes, 2 * engine->log_->Bytes());
  return engine;
}

Engine::Engine(const EngineOptions& options, const LogHeader& header, SizeClasses classes,
               std::unique_ptr<MetaLog> log)
    : options_(options),
      blockBytes_(header.blockBytes),
      zeroBlockCrc_(Crc32c(std::vector<uint8_t>(header.blockBytes, 0).data(), header.blockBytes)),
      log_(std::move(log)),
      data_(std::make_unique<DataFiles>(options.directory, classes, std::max<uint64_t>(options.growBytes, 1),
                                        options.directWrites, options.directReadBytesMin > 0)),
      allocator_(classes) {}

Engine::~Engine() {
  log_->Close();
  data_->Close();
}

uint32_t Engine::BlockLength(uint32_t length, uint32_t index) const {
  const uint64_t start = static_cast<uint64_t>(index) * blockBytes_;
  if (start >= length) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(blockBytes_, length - start));
}

uint32_t Engine::ZeroCrc(uint32_t length) const {
  if (length == blockBytes_) return zeroBlockCrc_;
  const std::vector<uint8_t> zeros(length, 0);
  return Crc32c(zeros.data(), length);
}

uint32_t Engine::CombineBlocks(const ChunkVersion& version) const {
  uint32_t checksum = 0;
  for (uint32_t index = 0; index < version.blocks.size(); index++) {
    checksum = Crc32cCombine(checksum, version.blocks[index].crc, BlockLength(version.length, index));
  }
  return checksum;
}

bool Engine::CheckUsable(EngineFailure* failure) {
  if (closed_) return Refuse(failure, EngineFailure::Kind::Closed, "the chunk engine is closed");
  if (failed_) {
    *failure = failedWith_;
    return false;
  }
  return true;
}

ChunkState Engine::StateOf(const Entry& entry) const {
  ChunkState state;
  if (entry.committed) state.committed = InfoOf(*entry.committed);
  if (entry.pending) state.pending = InfoOf(*entry.pending);
  state.removed = entry.removed;
  return state;
}

std::optional<ChunkState> Engine::Stat(const ChunkKey& key) {
  std::lock_guard<std::mutex> guard(lock_);
  auto found = chunks_.find(key);
  if (found == chunks_.end() || (!found->second.committed && !found->second.pending)) return std::nullopt;
  return StateOf(found->second);
}

bool Engine::HasPending(const ChunkKey& key) {
  std::lock_guard<std::mutex> guard(lock_);
  auto found = chunks_.find(key);
  return found != chunks_.end() && found->second.pending.has_value();
}

std::vector<std::pair<ChunkKey, ChunkState>> Engine::List(const ChunkKey* after, uint32_t limit) {
  std::lock_guard<std::mutex> guard(lock_);
  std::vector<std::pair<ChunkKey, ChunkState>> listed;
  auto position = after == nullptr ? chunks_.begin() : chunks_.upper_bound(*after);
  for (; position != chunks_.end() && listed.size() < limit; ++position) {
    const Entry& entry = position->second;
    if (!entry.committed && !entry.pending) continue;
    listed.emplace_back(position->first, StateOf(entry));
  }
  return listed;
}

RangeSummary Engine::Summarize(uint64_t inode, uint64_t beginIndex, uint64_t endIndex) {
  std::lock_guard<std::mutex> guard(lock_);
  RangeSummary summary;
  ChunkKey begin{};
  for (int byte = 0; byte < 8; byte++) begin[byte] = static_cast<uint8_t>(inode >> (56 - 8 * byte));
  const uint32_t first = static_cast<uint32_t>(std::min<uint64_t>(beginIndex, 0xffffffffull));
  for (int byte = 0; byte < 4; byte++) begin[8 + byte] = static_cast<uint8_t>(first >> (24 - 8 * byte));
  if (beginIndex > 0xffffffffull) return summary;
  for (auto position = chunks_.lower_bound(begin); position != chunks_.end(); ++position) {
    const ChunkKey& key = position->first;
    if (!std::equal(key.begin(), key.begin() + 8, begin.begin())) break;
    const uint64_t index = (static_cast<uint64_t>(key[8]) << 24) | (key[9] << 16) | (key[10] << 8) | key[11];
    if (index >= endIndex) break;
    const Entry& entry = position->second;
    if (entry.pending) summary.uncommittedCount++;
    if (!entry.committed) continue;
    summary.hasLast = true;
    summary.lastIndex = static_cast<uint32_t>(index);
    summary.last = InfoOf(*entry.committed);
    summary.chunkCount++;
    summary.totalBytes += entry.committed->length;
  }
  return summary;
}

std::pair<uint64_t, uint64_t> Engine::Totals() {
  std::lock_guard<std::mutex> guard(lock_);
  return {chunkCount_, committedBytes_};
}

uint64_t Engine::UsedSlots() {
  std::lock_guard<std::mutex> guard(lock_);
  return allocator_.UsedSlots();
}

// --- slots ------------------------------------------------------------------------------

uint64_t Engine::SharedSlots() {
  std::lock_guard<std::mutex> guard(lock_);
  return extraRefs_.size();
}

void Engine::FreeSlot(SlotRef slot) {
  if (slot == kHoleSlot) return;  // a hole has no slot to give back
  auto shared = extraRefs_.find(slot);
  if (shared != extraRefs_.end()) {
    // Another chunk still names the slot: only this reference goes.
    if (--shared->second == 0) extraRefs_.erase(shared);
    return;
  }
  if (activeReads_.empty()) {
    allocator_.Free(slot);
  } else {
    deferredFrees_.emplace_back(readSequence_, slot);
  }
}

void Engine::ReleaseDeferred() {
  const uint64_t oldest = activeReads_.empty() ? UINT64_MAX : *activeReads_.begin();
  while (!deferredFrees_.empty() && deferredFrees_.front().first < oldest) {
    allocator_.Free(deferredFrees_.front().second);
    deferredFrees_.pop_front();
  }
}

void Engine::DropPending(Entry& entry) {
  if (!entry.pending) return;
  const ChunkVersion& pending = *entry.pending;
  for (uint32_t index = 0; index < pending.blocks.size(); index++) {
    const bool shared = entry.committed && index < entry.committed->blocks.size() &&
                        entry.committed->blocks[index].slot == pending.blocks[index].slot;
    if (!shared) FreeSlot(pending.blocks[index].slot);
  }
  entry.pending.reset();
  entry.removed = false;
}

void Engine::EraseIfEmpty(std::map<ChunkKey, Entry>::iterator found) {
  const Entry& entry = found->second;
  if (!entry.committed && !entry.pending && !entry.busy) chunks_.erase(found);
}

// --- prepare ----------------------------------------------------------------------------

std::unique_ptr<PrepareJob> Engine::BeginPrepare(const ChunkKey& key, const UpdateInput& input,
                                                 EngineFailure* failure) {
  std::lock_guard<std::mutex> guard(lock_);
  if (!CheckUsable(failure)) return nullptr;
  auto found = chunks_.try_emplace(key).first;
  Entry& entry = found->second;
  if (entry.busy) {
    Refuse(failure, EngineFailure::Kind::Busy, "an update of the chunk is already in flight");
    return nullptr;
  }
  DropPending(entry);
  auto job = std::make_unique<PrepareJob>();
  job->key = key;
  job->input = input;
  const ChunkVersion* base = entry.committed ? &*entry.committed : nullptr;
  if (input.version == 0 || (base != nullptr && input.version <= base->version)) {
    Refuse(failure, EngineFailure::Kind::Invalid, "a pending version must be newer than the committed one");
    EraseIfEmpty(found);
    return nullptr;
  }
  if (!Plan(*job, base, failure)) {
    for (SlotRef slot : job->freshSlots) allocator_.Free(slot);
    for (SlotRef slot : job->sharedSlots) FreeSlot(slot);
    EraseIfEmpty(found);
    return nullptr;
  }
  entry.busy = true;
  jobsInFlight_++;
  return job;
}

bool Engine::Plan(PrepareJob& job, const ChunkVersion* base, EngineFailure* failure) {
  const UpdateInput& input = job.input;
  const uint64_t max = options_.chunkBytesMax;
  const uint64_t oldLength = base != nullptr ? base->length : 0;
  job.oldLength = static_cast<uint32_t>(oldLength);
  job.oldChecksum = base != nullptr ? base->checksum : 0;
  job.next.version = input.version;
  job.next.chainVersion = input.chainVersion;
  uint64_t newLength = 0, changeStart = 0, changeEnd = 0;
  bool fromScratch = false;
  switch (input.kind) {
    case UpdateKind::Write:
      if (input.length != input.dataLength) {
        return Refuse(failure, EngineFailure::Kind::LengthMismatch, "the payload's length differs from the length announced");
      }
      if (input.dataLength > max) return Refuse(failure, EngineFailure::Kind::TooLarge, "the payload is larger than a chunk");
      if (input.offset > max || input.offset + input.dataLength > max) {
        return Refuse(failure, EngineFailure::Kind::OutOfRange, "the write ends past the chunk size");
      }
      newLength = std::max(oldLength, input.offset + input.dataLength);
      changeStart = std::min(input.offset, oldLength);
      changeEnd = input.offset + input.dataLength;
      break;
    case UpdateKind::Replace:
      if (input.length != input.dataLength) {
        return Refuse(failure, EngineFailure::Kind::LengthMismatch, "the payload's length differs from the length announced");
      }
      if (input.dataLength > max) return Refuse(failure, EngineFailure::Kind::TooLarge, "the payload is larger than a chunk");
      newLength = input.dataLength;
      changeEnd = newLength;
      fromScratch = true;
      break;
    case UpdateKind::Truncate:
      if (input.length > max) return Refuse(failure, EngineFailure::Kind::OutOfRange, "the length is past the chunk size");
      newLength = input.length;
      changeStart = std::min(oldLength, newLength);
      changeEnd = newLength;
      break;
    case UpdateKind::Remove:
      job.removed = true;
      return true;
    case UpdateKind::Clone:
      return PlanClone(job, base, failure);
    case UpdateKind::Zero: {
      if (input.offset > max || input.length > max || input.offset + input.length > max) {
        return Refuse(failure, EngineFailure::Kind::OutOfRange, "the zeroed range ends past the chunk size");
      }
      // Zeroing never creates a chunk nor makes one longer: an absent chunk stays absent, a range
      // reaching the end cuts the chunk there (removing it when the range starts at 0).
      const uint64_t zeroEnd = std::min(oldLength, input.offset + input.length);
      if (base == nullptr || (input.offset == 0 && zeroEnd == oldLength && oldLength > 0)) {
        job.removed = true;
        return true;
      }
      if (input.offset < zeroEnd && zeroEnd < oldLength) {
        PlanZero(job, *base, input.offset, zeroEnd);
        return true;
      }
      // Nothing inside the chunk to zero (the same bytes under a new version), or a cut at the offset.
      newLength = input.offset < zeroEnd ? input.offset : oldLength;
      changeStart = newLength;
      changeEnd = newLength;
      break;
    }
  }
  // An append continues the old checksum; a replace starts from nothing.
  if (fromScratch) job.oldChecksum = 0;
  const uint32_t count = static_cast<uint32_t>((newLength + blockBytes_ - 1) / blockBytes_);
  job.next.length = static_cast<uint32_t>(newLength);
  if (fromScratch || base == nullptr) {
    job.next.blocks.assign(count, BlockRef{kUnsetSlot, 0});
  } else {
    job.next.blocks.assign(base->blocks.begin(), base->blocks.begin() + std::min<size_t>(count, base->blocks.size()));
    job.next.blocks.resize(count, BlockRef{kUnsetSlot, 0});
  }
  const uint64_t baseLength = fromScratch ? 0 : oldLength;
  const SizeClasses& classes = allocator_.classes();
  if (newLength < baseLength) {
    // A shrink writes nothing; a partial new last block needs its checksum over fewer bytes.
    if (newLength % blockBytes_ != 0) {
      BlockWrite fix;
      fix.index = count - 1;
      fix.slot = base->blocks[fix.index].slot;
      fix.oldSlot = fix.slot;
      fix.oldLength = BlockLength(base->length, fix.index);
      fix.oldCrc = base->blocks[fix.index].crc;
      fix.newLength = BlockLength(job.next.length, fix.index);
      job.shrink = fix;
    }
    return true;
  }
  job.pureAppend = changeStart >= baseLength;
  if (changeEnd <= changeStart) return true;
  const uint32_t firstBlock = static_cast<uint32_t>(changeStart / blockBytes_);
  const uint32_t endBlock = static_cast<uint32_t>((changeEnd + blockBytes_ - 1) / blockBytes_);
  for (uint32_t index = firstBlock; index < endBlock; index++) {
    const uint64_t blockStart = static_cast<uint64_t>(index) * blockBytes_;
    BlockWrite write;
    write.index = index;
    write.newLength = BlockLength(job.next.length, index);
    write.changeFrom = static_cast<uint32_t>(std::max(changeStart, blockStart) - blockStart);
    const uint32_t changeTo = static_cast<uint32_t>(std::min(changeEnd, blockStart + write.newLength) - blockStart);
    const uint32_t oldBlockLength = fromScratch || base == nullptr ? 0 : BlockLength(base->length, index);
    bool fresh = true;
    if (oldBlockLength > 0 && base->blocks[index].slot == kHoleSlot) {
      // A hole's bytes are zeros: the new block starts from a zeroed buffer, nothing to read.
    } else if (oldBlockLength > 0) {
      const BlockRef& old = base->blocks[index];
      write.oldSlot = old.slot;
      write.oldLength = oldBlockLength;
      write.oldCrc = old.crc;
      if (write.changeFrom >= oldBlockLength && classes.slotBytes[SlotClass(old.slot)] >= write.newLength &&
          !Shared(old.slot)) {
        // Only bytes past the committed end of the block change, and its slot has room and is this
        // chunk's alone (a clone may name the same bytes past its own end): in place.
        write.inPlace = true;
        write.slot = old.slot;
        write.writeFrom = oldBlockLength;
        fresh = false;
      } else {
        // Copy on write; the old bytes are needed unless the update covers all of them.
        write.readOld = !(write.changeFrom == 0 && changeTo >= oldBlockLength);
      }
    }
    if (fresh) {
      write.slot = allocator_.Allocate(classes.ClassFor(write.newLength));
      job.freshSlots.push_back(write.slot);
    }
    job.next.blocks[index] = BlockRef{write.slot, 0};
    job.writes.push_back(write);
  }
  return true;
}

void Engine::PlanZero(PrepareJob& job, const ChunkVersion& base, uint64_t zeroStart, uint64_t zeroEnd) {
  job.next.length = base.length;
  job.next.blocks = base.blocks;
  const SizeClasses& classes = allocator_.classes();
  const uint32_t firstBlock = static_cast<uint32_t>(zeroStart / blockBytes_);
  const uint32_t endBlock = static_cast<uint32_t>((zeroEnd + blockBytes_ - 1) / blockBytes_);
  for (uint32_t index = firstBlock; index < endBlock; index++) {
    const BlockRef& old = base.blocks[index];
    if (old.slot == kHoleSlot) continue;  // zeros already
    const uint64_t blockStart = static_cast<uint64_t>(index) * blockBytes_;
    const uint32_t length = BlockLength(base.length, index);
    const uint32_t from = static_cast<uint32_t>(std::max(zeroStart, blockStart) - blockStart);
    const uint32_t to = static_cast<uint32_t>(std::min(zeroEnd, blockStart + length) - blockStart);
    if (from == 0 && to == length) {
      job.next.blocks[index] = BlockRef{kHoleSlot, ZeroCrc(length)};
      continue;
    }
    // Partly zeroed: copied on write into a fresh slot with those bytes cleared.
    BlockWrite write;
    write.index = index;
    write.newLength = length;
    write.changeFrom = from;
    write.zeroFrom = from;
    write.zeroTo = to;
    write.readOld = true;
    write.oldSlot = old.slot;
    write.oldLength = length;
    write.oldCrc = old.crc;
    write.slot = allocator_.Allocate(classes.ClassFor(length));
    job.freshSlots.push_back(write.slot);
    job.next.blocks[index] = BlockRef{write.slot, 0};
    job.writes.push_back(write);
  }
}

bool Engine::PlanClone(PrepareJob& job, const ChunkVersion* base, EngineFailure* failure) {
  const UpdateInput& input = job.input;
  if (input.source == job.key) return Refuse(failure, EngineFailure::Kind::Invalid, "a chunk is not cloned onto itself");
  auto found = chunks_.find(input.source);
  const ChunkVersion* source =
      found != chunks_.end() && found->second.committed ? &*found->second.committed : nullptr;
  const uint32_t sourceVersion = source != nullptr ? source->version : 0;
  if (sourceVersion != input.sourceVersion) {
    return Refuse(failure, EngineFailure::Kind::VersionMismatch,
                  "the clone's source chunk is at version " + std::to_string(sourceVersion) + ", not " +
                      std::to_string(input.sourceVersion));
  }
  if (source == nullptr) {
    job.removed = true;  // the source is a hole: so is the clone
    return true;
  }
  // The new version names the source's committed slots, block for block: each slot the chunk does
  // not name already gains a reference, taken now, under the state lock, so no commit of the
  // source frees it meanwhile.
  job.clone = true;
  job.next.length = source->length;
  job.next.checksum = source->checksum;
  job.next.blocks = source->blocks;
  for (uint32_t index = 0; index < source->blocks.size(); index++) {
    const SlotRef slot = source->blocks[index].slot;
    if (slot == kHoleSlot) continue;
    const bool owned = base != nullptr && index < base->blocks.size() && base->blocks[index].slot == slot;
    if (owned) continue;
    extraRefs_[slot]++;
    job.sharedSlots.push_back(slot);
  }
  return true;
}

bool Engine::RunPrepare(PrepareJob& job, EngineFailure* failure) {
  // A clone writes nothing: the blocks it names are the source's committed, durable ones.
  if (job.clone) return true;
  const UpdateInput& input = job.input;
  const uint64_t dataStart = input.kind == UpdateKind::Replace ? 0 : input.offset;
  const uint64_t dataEnd = dataStart + input.dataLength;
  uint32_t appendChecksum = job.oldChecksum;
  std::vector<uint8_t> buffer;
  IoFailure io;
  // An unchecked payload's CRC32C, summed piece by piece (the payload's bytes in each block, in
  // block order): a block written straight from the payload is one piece whose CRC the loop below
  // computes anyway, so whole blocks are summed once; only edge pieces are summed apart.
  uint32_t dataCrc = 0;
  uint64_t dataSummed = dataStart;  // payload bytes before this offset are in dataCrc
  bool dataInOrder = true;
  auto sumPiece = [&](uint64_t from, uint64_t to, const uint32_t* known) {
    if (!input.checkData || !dataInOrder || to <= from) return;
    if (from != dataSummed) {
      dataInOrder = false;  // summed whole at the end instead
      return;
    }
    const uint32_t piece = known != nullptr ? *known : Crc32c(input.data + (from - dataStart), to - from);
    dataCrc = from == dataStart ? piece : Crc32cCombine(dataCrc, piece, to - from);
    dataSummed = to;
  };
  // Whole blocks taken straight from the payload into consecutive slots of one file go out in one
  // write (one system call, and one device request when the write bypasses the page cache).
  const SizeClasses& classes = allocator_.classes();
  struct Run {
    SlotRef first = kHoleSlot;
    SlotRef last = kHoleSlot;
    const uint8_t* source = nullptr;
    size_t bytes = 0;
  } run;
  auto flushRun = [&]() {
    if (run.bytes == 0) return true;
    const bool written = data_->Write(run.first, 0, run.source, run.bytes, &io);
    run = Run{};
    return written;
  };
  for (const BlockWrite& write : job.writes) {
    const uint64_t blockStart = static_cast<uint64_t>(write.index) * blockBytes_;
    const uint64_t from = blockStart + write.writeFrom;
    const uint64_t to = blockStart + write.newLength;
    const uint8_t* source = nullptr;  // the block's bytes from `writeFrom`
    if (!write.readOld && input.data != nullptr && from >= dataStart && to <= dataEnd) {
      source = input.data + (from - dataStart);  // wholly inside the payload: written from it directly
    } else {
      buffer.assign(write.newLength, 0);
      if (write.readOld) {
        if (!data_->Read(write.oldSlot, 0, buffer.data(), write.oldLength, &io)) return *failure = FromIo(io), false;
        if (Crc32c(buffer.data(), write.oldLength) != write.oldCrc) {
          failure->kind = EngineFailure::Kind::Corrupted;
          failure->block = write.index;
          failure->message = "block " + std::to_string(write.index) + " fails its CRC32C";
          return false;
        }
      }
      const uint64_t overlapStart = std::max(dataStart, blockStart);
      const uint64_t overlapEnd = std::min(dataEnd, to);
      if (input.data != nullptr && overlapStart < overlapEnd) {
        std::memcpy(buffer.data() + (overlapStart - blockStart), input.data + (overlapStart - dataStart),
                    overlapEnd - overlapStart);
      }
      if (write.zeroTo > write.zeroFrom) std::memset(buffer.data() + write.zeroFrom, 0, write.zeroTo - write.zeroFrom);
      source = buffer.data() + write.writeFrom;
    }
    const uint32_t written = write.newLength - write.writeFrom;
    const uint32_t crc = write.inPlace ? Crc32c(source, written, write.oldCrc) : Crc32c(source, written);
    if (input.checkData && input.data != nullptr) {
      const uint64_t pieceFrom = std::max(dataStart, blockStart);
      const uint64_t pieceTo = std::min(dataEnd, blockStart + blockBytes_);
      const bool samePiece = !write.inPlace && from >= dataStart && from == pieceFrom && to == pieceTo &&
                             source == input.data + (from - dataStart);
      sumPiece(pieceFrom, pieceTo, samePiece ? &crc : nullptr);
    }
    if (!data_->Reserve(write.slot, &io)) return *failure = FromIo(io), false;
    const bool whole = write.writeFrom == 0 && written == classes.slotBytes[SlotClass(write.slot)] &&
                       source != buffer.data() + write.writeFrom;
    const bool continues = whole && run.bytes > 0 && write.slot == run.last + 1 && SlotIndex(write.slot) != 0 &&
                           source == run.source + run.bytes;
    if (continues) {
      run.last = write.slot;
      run.bytes += written;
    } else {
      if (!flushRun()) return *failure = FromIo(io), false;
      if (whole) {
        run = Run{write.slot, write.slot, source, written};
      } else if (!data_->Write(write.slot, write.writeFrom, source, written, &io)) {
        return *failure = FromIo(io), false;
      }
    }
    job.next.blocks[write.index].crc = crc;
    if (job.pureAppend) {
      appendChecksum = Crc32c(source + (write.changeFrom - write.writeFrom), write.newLength - write.changeFrom,
                              appendChecksum);
    }
  }
  if (!flushRun()) return *failure = FromIo(io), false;
  if (input.checkData) {
    uint32_t actual = 0;
    if (dataInOrder && dataSummed == dataEnd) {
      actual = dataEnd == dataStart ? Crc32c(input.data, 0) : dataCrc;
    } else {
      actual = Crc32c(input.data, input.dataLength);
    }
    if (actual != input.expectedDataCrc) {
      failure->kind = EngineFailure::Kind::ChecksumMismatch;
      failure->message = "the payload fails its CRC32C check";
      return false;
    }
  }
  if (job.shrink && job.shrink->oldSlot == kHoleSlot) {
    job.next.blocks[job.shrink->index].crc = ZeroCrc(job.shrink->newLength);
  } else if (job.shrink) {
    const BlockWrite& fix = *job.shrink;
    buffer.assign(fix.oldLength, 0);
    if (!data_->Read(fix.oldSlot, 0, buffer.data(), fix.oldLength, &io)) return *failure = FromIo(io), false;
    if (Crc32c(buffer.data(), fix.oldLength) != fix.oldCrc) {
      failure->kind = EngineFailure::Kind::Corrupted;
      failure->block = fix.index;
      failure->message = "block " + std::to_string(fix.index) + " fails its CRC32C";
      return false;
    }
    job.next.blocks[fix.index].crc = Crc32c(buffer.data(), fix.newLength);
  }
  if (job.removed) return true;
  job.next.checksum = job.pureAppend ? appendChecksum : CombineBlocks(job.next);
  if (options_.durable && !job.writes.empty()) return SyncData(failure);
  return true;
}

VersionInfo Engine::FinishPrepare(PrepareJob& job, bool ok) {
  std::lock_guard<std::mutex> guard(lock_);
  jobsInFlight_--;
  idle_.notify_all();
  auto found = chunks_.find(job.key);
  Entry& entry = found->second;
  entry.busy = false;
  if (!ok) {
    // Nothing names these slots: they were never visible to a reader.
    for (SlotRef slot : job.freshSlots) allocator_.Free(slot);
    for (SlotRef slot : job.sharedSlots) FreeSlot(slot);
    EraseIfEmpty(found);
    return {};
  }
  entry.removed = job.removed;
  entry.pending = std::move(job.next);
  return InfoOf(*entry.pending);
}

bool Engine::SyncData(EngineFailure* failure) {
  const bool ok = dataSync_.Sync(
      [this](EngineFailure* outcome) {
        IoFailure io;
        if (data_->SyncWritten(&io)) return true;
        *outcome = FromIo(io);
        outcome->kind = EngineFailure::Kind::Io;
        return false;
      },
      failure);
  if (!ok) {
    std::lock_guard<std::mutex> guard(lock_);
    failed_ = true;
    failedWith_ = *failure;
  }
  return ok;
}

// --- commit and discard -----------------------------------------------------------------

std::unique_ptr<CommitJob> Engine::BeginCommit(const ChunkKey& key, uint32_t version, EngineFailure* failure) {
  std::lock_guard<std::mutex> guard(lock_);
  if (!CheckUsable(failure)) return nullptr;
  auto found = chunks_.find(key);
  if (found == chunks_.end() || !found->second.pending || found->second.pending->version != version) {
    Refuse(failure, EngineFailure::Kind::NotFound, "the chunk has no pending version " + std::to_string(version));
    return nullptr;
  }
  Entry& entry = found->second;
  if (entry.busy) {
    Refuse(failure, EngineFailure::Kind::Busy, "an update of the chunk is already in flight");
    return nullptr;
  }
  auto job = std::make_unique<CommitJob>();
  job->key = key;
  job->version = version;
  job->payload = entry.removed ? EncodeDelete(key)
                               : EncodePut(key, *entry.pending, entry.committed ? &*entry.committed : nullptr);
  inFlightCommits_[key] = job->payload;
  entry.busy = true;
  jobsInFlight_++;
  return job;
}

bool Engine::RunCommit(CommitJob& job, EngineFailure* failure) { return log_->Append(job.payload, failure); }

bool Engine::RunCommits(const std::vector<std::unique_ptr<CommitJob>>& jobs, EngineFailure* failure) {
  std::vector<Payload> payloads;
  payloads.reserve(jobs.size());
  for (const auto& job : jobs) payloads.push_back(job->payload);
  return log_->AppendMany(payloads, failure);
}

std::optional<VersionInfo> Engine::FinishCommit(CommitJob& job, bool ok) {
  std::lock_guard<std::mutex> guard(lock_);
  jobsInFlight_--;
  idle_.notify_all();
  inFlightCommits_.erase(job.key);
  auto found = chunks_.find(job.key);
  Entry& entry = found->second;
  entry.busy = false;
  if (!ok) return std::nullopt;
  std::optional<ChunkVersion> next;
  if (!entry.removed) next = std::move(entry.pending);
  if (entry.committed) {
    const ChunkVersion& old = *entry.committed;
    for (uint32_t index = 0; index < old.blocks.size(); index++) {
      const bool kept = next && index < next->blocks.size() && next->blocks[index].slot == old.blocks[index].slot;
      if (!kept) FreeSlot(old.blocks[index].slot);
    }
    chunkCount_--;
    committedBytes_ -= old.length;
  }
  if (next) {
    chunkCount_++;
    committedBytes_ += next->length;
  }
  entry.committed = std::move(next);
  entry.pending.reset();
  entry.removed = false;
  std::optional<VersionInfo> info;
  if (entry.committed) info = InfoOf(*entry.committed);
  EraseIfEmpty(found);
  return info;
}

bool Engine::Discard(const ChunkKey& key, EngineFailure* failure) {
  std::lock_guard<std::mutex> guard(lock_);
  if (!CheckUsable(failure)) return false;
  auto found = chunks_.find(key);
  if (found == chunks_.end()) return true;
  if (found->second.busy) return Refuse(failure, EngineFailure::Kind::Busy, "an update of the chunk is in flight");
  DropPending(found->second);
  EraseIfEmpty(found);
  return true;
}

// --- reads ------------------------------------------------------------------------------

std::unique_ptr<ReadJob> Engine::BeginRead(const ChunkKey& key, uint64_t offset, uint64_t length, bool pending,
                                           EngineFailure* failure) {
  std::lock_guard<std::mutex> guard(lock_);
  if (!CheckUsable(failure)) return nullptr;
  if (offset > options_.chunkBytesMax) {
    Refuse(failure, EngineFailure::Kind::OutOfRange, "the read starts past the chunk size");
    return nullptr;
  }
  auto found = chunks_.find(key);
  const ChunkVersion* source = nullptr;
  bool uncommitted = false;
  if (found != chunks_.end()) {
    const Entry& entry = found->second;
    if (pending && entry.pending) {
      if (!entry.removed) source = &*entry.pending;
      uncommitted = true;
    } else if (entry.committed) {
      source = &*entry.committed;
    }
  }
  if (source == nullptr) {
    Refuse(failure, EngineFailure::Kind::NotFound, "the chunk does not exist");
    return nullptr;
  }
  auto job = std::make_unique<ReadJob>();
  job->info = InfoOf(*source);
  job->uncommitted = uncommitted;
  job->start = std::min<uint64_t>(offset, source->length);
  job->end = std::min<uint64_t>(source->length, offset + std::min<uint64_t>(length, options_.chunkBytesMax));
  if (job->end > job->start) {
    job->firstBlock = static_cast<uint32_t>(job->start / blockBytes_);
    const uint32_t endBlock = static_cast<uint32_t>((job->end + blockBytes_ - 1) / blockBytes_);
    job->blocks.assign(source->blocks.begin() + job->firstBlock, source->blocks.begin() + endBlock);
  }
  job->readSequence = ++readSequence_;
  activeReads_.insert(job->readSequence);
  jobsInFlight_++;
  return job;
}

void Engine::PlanRead(ReadJob& job) {
  const uint64_t total = job.end - job.start;
  if (job.into == nullptr || job.intoBytes < total) {
    job.into = nullptr;
    job.data.reset(new uint8_t[total > 0 ? total : 1]);
  }
  job.runs.clear();
  const SizeClasses& classes = allocator_.classes();
  size_t first = 0;
  while (first < job.blocks.size()) {
    // A run of blocks in consecutive slots of one file is read with one pread; a hole is a run of
    // its own, of zeros, verified against its crc like any block.
    const bool hole = job.blocks[first].slot == kHoleSlot;
    size_t last = first;
    uint64_t runBytes = BlockLength(job.info.length, job.firstBlock + static_cast<uint32_t>(first));
    while (!hole && last + 1 < job.blocks.size()) {
      const SlotRef slot = job.blocks[last].slot;
      const SlotRef next = job.blocks[last + 1].slot;
      const bool full = BlockLength(job.info.length, job.firstBlock + static_cast<uint32_t>(last)) ==
                        classes.slotBytes[SlotClass(slot)];
      if (!full || next == kHoleSlot || next != slot + 1 || SlotIndex(next) == 0) break;
      last++;
      runBytes += BlockLength(job.info.length, job.firstBlock + static_cast<uint32_t>(last));
    }
    ReadRun run;
    run.first = first;
    run.last = last;
    run.bytes = runBytes;
    run.hole = hole;
    const uint64_t runStart = static_cast<uint64_t>(job.firstBlock + first) * blockBytes_;
    run.inside = runStart >= job.start && runStart + runBytes <= job.end;
    if (run.inside) {
      run.target = job.Bytes() + (runStart - job.start);
    } else {
      // Blocks that reach past the range are read aside, then the range's part copied out; not
      // zeroed first: every byte the read uses is one the pread wrote.
      run.scratch.reset(new uint8_t[runBytes]);
      run.target = run.scratch.get();
    }
    if (hole) std::memset(run.target, 0, runBytes);
    job.runs.push_back(std::move(run));
    first = last + 1;
  }
}

bool Engine::LocateRun(const ReadRun& run, const ReadJob& job, int* fd, uint64_t* position,
                       EngineFailure* failure) {
  IoFailure io;
  if (!data_->Locate(job.blocks[run.first].slot, fd, position, &io)) return *failure = FromIo(io), false;
  return true;
}

bool Engine::RunRead(ReadJob& job, EngineFailure* failure, bool cachedOnly) {
  const uint64_t total = job.end - job.start;
  PlanRead(job);
  IoFailure io;
  const DataFiles::ReadPath path = cachedOnly ? DataFiles::ReadPath::CachedOnly
                                   : options_.directReadBytesMin > 0 && total >= options_.directReadBytesMin
                                       ? DataFiles::ReadPath::Direct
                                       : DataFiles::ReadPath::Buffered;
  for (const ReadRun& run : job.runs) {
    if (!run.hole && !data_->Read(job.blocks[run.first].slot, 0, run.target, run.bytes, &io, path))
      return *failure = FromIo(io), false;
  }
  return VerifyRead(job, failure);
}

bool Engine::VerifyRead(ReadJob& job, EngineFailure* failure) {
  if (job.end == job.start) {
    job.runs.clear();
    return true;
  }
  uint32_t checksum = 0;
  for (const ReadRun& run : job.runs) {
    uint64_t offsetInRun = 0;
    for (size_t position = run.first; position <= run.last; position++) {
      const uint32_t index = job.firstBlock + static_cast<uint32_t>(position);
      const uint32_t length = BlockLength(job.info.length, index);
      const uint8_t* bytes = run.target + offsetInRun;
      if (Crc32c(bytes, length) != job.blocks[position].crc) {
        failure->kind = EngineFailure::Kind::Corrupted;
        failure->block = index;
        failure->version = job.info.version;
        failure->message = "block " + std::to_string(index) + " fails its CRC32C";
        return false;
      }
      const uint64_t blockStart = static_cast<uint64_t>(index) * blockBytes_;
      const uint64_t pieceStart = std::max(blockStart, job.start);
      const uint64_t pieceEnd = std::min(blockStart + length, job.end);
      const uint8_t* piece = bytes + (pieceStart - blockStart);
      if (!run.inside) std::memcpy(job.Bytes() + (pieceStart - job.start), piece, pieceEnd - pieceStart);
      const bool whole = pieceStart == blockStart && pieceEnd == blockStart + length;
      const uint32_t pieceCrc = whole ? job.blocks[position].crc : Crc32c(piece, pieceEnd - pieceStart);
      checksum = Crc32cCombine(checksum, pieceCrc, pieceEnd - pieceStart);
      offsetInRun += length;
    }
  }
  job.runs.clear();
  if (job.start == 0 && job.end == job.info.length && checksum != job.info.checksum) {
    failure->kind = EngineFailure::Kind::Corrupted;
    failure->block = -1;
    failure->version = job.info.version;
    failure->message = "the chunk fails its CRC32C";
    return false;
  }
  job.checksum = checksum;
  return true;
}

bool Engine::FinishRingRead(ReadJob& job, int error, EngineFailure* failure) {
  bool ok = false;
  if (error != 0) {
    *failure = {EngineFailure::Kind::Io, error, std::string("reading a data file: ") + std::strerror(error)};
  } else {
    ok = VerifyRead(job, failure);
  }
  FinishRead(job);
  return ok;
}

void Engine::FinishRead(ReadJob& job) {
  std::lock_guard<std::mutex> guard(lock_);
  activeReads_.erase(activeReads_.find(job.readSequence));
  ReleaseDeferred();
  jobsInFlight_--;
  idle_.notify_all();
}

// --- sync, compaction, close ------------------------------------------------------------

bool Engine::BeginBackground(EngineFailure* failure) {
  std::lock_guard<std::mutex> guard(lock_);
  if (!CheckUsable(failure)) return false;
  jobsInFlight_++;
  return true;
}

void Engine::FinishBackground() {
  std::lock_guard<std::mutex> guard(lock_);
  jobsInFlight_--;
  idle_.notify_all();
}

bool Engine::RunSync(EngineFailure* failure) {
  // Data first: the log records that name the blocks must not be durable before the blocks are.
  return SyncData(failure) && log_->Sync(failure);
}

bool Engine::WantsCompaction() {
  std::lock_guard<std::mutex> guard(lock_);
  if (compacting_ || closed_ || failed_ || log_->Bytes() < compactAtBytes_) return false;
  compacting_ = true;
  return true;
}

bool Engine::RunCompaction(EngineFailure* failure) {
  return log_->Compact(
      [this]() {
        std::lock_guard<std::mutex> guard(lock_);
        std::vector<Payload> records;
        records.reserve(chunkCount_ + inFlightCommits_.size());
        for (const auto& [key, entry] : chunks_) {
          if (entry.committed) records.push_back(EncodePut(key, *entry.committed, nullptr));
        }
        // Commits whose records may or may not be in the old file follow the state without them.
        for (const auto& [key, payload] : inFlightCommits_) records.push_back(payload);
        return records;
      },
      failure);
}

void Engine::FinishCompaction(bool ok) {
  std::lock_guard<std::mutex> guard(lock_);
  compacting_ = false;
  const uint64_t bytes = log_->Bytes();
  compactAtBytes_ = ok ? std::max<uint64_t>(options_.compactMinBytes, 2 * bytes) : compactAtBytes_ * 2;
}

bool Engine::MarkClosed() {
  std::lock_guard<std::mutex> guard(lock_);
  if (closed_) return false;
  closed_ = true;
  return true;
}

bool Engine::RunClose(EngineFailure* failure) {
  {
    std::unique_lock<std::mutex> lock(lock_);
    idle_.wait(lock, [this] { return jobsInFlight_ == 0; });
  }
  bool failed = false;
  {
    std::lock_guard<std::mutex> guard(lock_);
    failed = failed_;
  }
  bool ok = true;
  if (!failed) ok = SyncData(failure) && log_->Sync(failure);
  log_->Close();
  data_->Close();
  return ok;
}

}  // namespace chunk_engine
