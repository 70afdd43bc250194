#include "meta-log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crc32c.h"

namespace chunk_engine {
namespace {

constexpr uint32_t kMagic = 0x4c4d4633;  // "3FML"
constexpr size_t kFrameBytes = 20;        // magic, crc, payload bytes, sequence
constexpr uint32_t kPayloadBytesMax = 512u << 20;
constexpr uint8_t kHeaderRecord = 1;
constexpr uint8_t kPutRecord = 2;
constexpr uint8_t kDeleteRecord = 3;
constexpr SlotRef kUnsetSlot = ~0ull;

void PutU32(std::string* out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
}
void PutU64(std::string* out, uint64_t value) {
  for (int shift = 0; shift < 64; shift += 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
}

/** Bounds-checked little-endian reads over a record's bytes. */
class Reader {
 public:
  Reader(const uint8_t* data, size_t length) : data_(data), length_(length) {}
  bool U8(uint8_t* value) { return Take(1, value); }
  bool U32(uint32_t* value) {
    uint8_t bytes[4];
    if (!Take(4, bytes)) return false;
    *value = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (static_cast<uint32_t>(bytes[3]) << 24);
    return true;
  }
  bool U64(uint64_t* value) {
    uint32_t low, high;
    if (!U32(&low) || !U32(&high)) return false;
    *value = (static_cast<uint64_t>(high) << 32) | low;
    return true;
  }
  bool Bytes(uint8_t* out, size_t count) { return Take(count, out); }
  size_t Remaining() const { return length_ - position_; }

 private:
  bool Take(size_t count, uint8_t* out) {
    if (length_ - position_ < count) return false;
    std::memcpy(out, data_ + position_, count);
    position_ += count;
    return true;
  }
  const uint8_t* data_;
  size_t length_;
  size_t position_ = 0;
};

Payload EncodeHeader(const LogHeader& header) {
  auto out = std::make_shared<std::string>();
  out->push_back(static_cast<char>(kHeaderRecord));
  PutU32(out.get(), header.format);
  PutU32(out.get(), header.targetId);
  PutU32(out.get(), header.blockBytes);
  PutU32(out.get(), header.minSlotBytes);
  PutU64(out.get(), header.fileBytes);
  return out;
}

void AppendFrame(std::string* out, const std::string& payload, uint64_t sequence) {
  size_t start = out->size();
  PutU32(out, kMagic);
  PutU32(out, 0);  // the CRC, filled in below
  PutU32(out, static_cast<uint32_t>(payload.size()));
  PutU64(out, sequence);
  out->append(payload);
  const uint8_t* covered = reinterpret_cast<const uint8_t*>(out->data()) + start + 8;
  uint32_t crc = Crc32c(covered, out->size() - start - 8);
  for (int index = 0; index < 4; index++) (*out)[start + 4 + index] = static_cast<char>((crc >> (8 * index)) & 0xff);
}

EngineFailure IoError(int error, const std::string& what) {
  return {EngineFailure::Kind::Io, error, what + ": " + std::strerror(error)};
}


bool SyncDirectory(const std::string& directory, EngineFailure* failure) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *failure = IoError(errno, "open " + directory);
    return false;
  }
  bool ok = fsync(fd) == 0;
  if (!ok) *failure = IoError(errno, "fsync " + directory);
  ::close(fd);
  return ok;
}

/** Applies one verified record's payload to the replay state; false when it is malformed. */
bool ApplyRecord(const std::string& payload, bool first, ReplayState* state, std::string* problem) {
  Reader reader(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  uint8_t type = 0;
  if (!reader.U8(&type)) return *problem = "an empty record", false;
  if (first != (type == kHeaderRecord)) return *problem = "the header is not the first record", false;
  ChunkKey key{};
  switch (type) {
    case kHeaderRecord: {
      LogHeader& header = state->header;
      if (!reader.U32(&header.format) || !reader.U32(&header.targetId) || !reader.U32(&header.blockBytes) ||
          !reader.U32(&header.minSlotBytes) || !reader.U64(&header.fileBytes)) {
        return *problem = "a short header", false;
      }
      return true;
    }
    case kDeleteRecord:
      if (!reader.Bytes(key.data(), key.size())) return *problem = "a short delete record", false;
      state->chunks.erase(key);
      return true;
    case kPutRecord: {
      ChunkVersion next;
      uint32_t blockCount = 0, changeCount = 0;
      if (!reader.Bytes(key.data(), key.size()) || !reader.U32(&next.version) ||
          !reader.U32(&next.chainVersion) || !reader.U32(&next.length) || !reader.U32(&next.checksum) ||
          !reader.U32(&blockCount) || !reader.U32(&changeCount)) {
        return *problem = "a short put record", false;
      }
      if (reader.Remaining() != static_cast<size_t>(changeCount) * 16) {
        return *problem = "a put record's block changes do not fill it", false;
      }
      ChunkVersion& chunk = state->chunks[key];
      chunk.version = next.version;
      chunk.chainVersion = next.chainVersion;
      chunk.length = next.length;
      chunk.checksum = next.checksum;
      chunk.blocks.resize(blockCount, BlockRef{kUnsetSlot, 0});
      for (uint32_t change = 0; change < changeCount; change++) {
        uint32_t index = 0;
        BlockRef block{};
        reader.U32(&index);
        reader.U64(&block.slot);
        reader.U32(&block.crc);
        if (index >= blockCount) return *problem = "a block change past the block count", false;
        chunk.blocks[index] = block;
      }
      return true;
    }
    default:
      return *problem = "an unknown record type", false;
  }
}

}  // namespace

Payload EncodePut(const ChunkKey& key, const ChunkVersion& next, const ChunkVersion* previous) {
  auto out = std::make_shared<std::string>();
  std::vector<uint32_t> changed;
  for (uint32_t index = 0; index < next.blocks.size(); index++) {
    const bool same = previous != nullptr && index < previous->blocks.size() &&
                      previous->blocks[index].slot == next.blocks[index].slot &&
                      previous->blocks[index].crc == next.blocks[index].crc;
    if (!same) changed.push_back(index);
  }
  out->reserve(1 + 12 + 24 + changed.size() * 16);
  out->push_back(static_cast<char>(kPutRecord));
  out->append(reinterpret_cast<const char*>(key.data()), key.size());
  PutU32(out.get(), next.version);
  PutU32(out.get(), next.chainVersion);
  PutU32(out.get(), next.length);
  PutU32(out.get(), next.checksum);
  PutU32(out.get(), static_cast<uint32_t>(next.blocks.size()));
  PutU32(out.get(), static_cast<uint32_t>(changed.size()));
  for (uint32_t index : changed) {
    PutU32(out.get(), index);
    PutU64(out.get(), next.blocks[index].slot);
    PutU32(out.get(), next.blocks[index].crc);
  }
  return out;
}

Payload EncodeDelete(const ChunkKey& key) {
  auto out = std::make_shared<std::string>();
  out->push_back(static_cast<char>(kDeleteRecord));
  out->append(reinterpret_cast<const char*>(key.data()), key.size());
  return out;
}

MetaLog::MetaLog(std::string directory, bool durable, uint64_t growBytes)
    : directory_(std::move(directory)), durable_(durable), growBytes_(growBytes) {}

MetaLog::~MetaLog() { Close(); }

std::string MetaLog::PathOf(uint64_t generation) const {
  return directory_ + "/meta-" + std::to_string(generation) + ".log";
}

bool MetaLog::Open(const LogHeader& header, ReplayState* state, EngineFailure* failure) {
  // Find the newest complete generation; unfinished compactions (.tmp) and older ones go.
  std::vector<std::string> stale;
  uint64_t newest = 0;
  DIR* listing = opendir(directory_.c_str());
  if (listing == nullptr) return *failure = IoError(errno, "opendir " + directory_), false;
  while (dirent* entry = readdir(listing)) {
    std::string name = entry->d_name;
    if (name.rfind("meta-", 0) != 0) continue;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      stale.push_back(name);
      continue;
    }
    if (name.size() <= 9 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    uint64_t generation = std::strtoull(name.substr(5, name.size() - 9).c_str(), nullptr, 10);
    if (generation == 0) continue;
    if (generation > newest) {
      if (newest != 0) stale.push_back("meta-" + std::to_string(newest) + ".log");
      newest = generation;
    } else {
      stale.push_back(name);
    }
  }
  closedir(listing);
  header_ = header;
  if (newest == 0) {
    // A new log: the header alone, written aside and renamed, so a torn header is never the log.
    std::string bytes;
    AppendFrame(&bytes, *EncodeHeader(header), 1);
    std::string temporary = PathOf(1) + ".tmp";
    int fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return *failure = IoError(errno, "create " + temporary), false;
    int error = 0;
    bool ok = WriteFull(fd, bytes.data(), bytes.size(), 0, &error);
    if (!ok) *failure = IoError(error, "write " + temporary);
    if (ok && fdatasync(fd) != 0) ok = (*failure = IoError(errno, "fdatasync " + temporary), false);
    ::close(fd);
    if (ok && rename(temporary.c_str(), PathOf(1).c_str()) != 0) {
      ok = (*failure = IoError(errno, "rename " + temporary), false);
    }
    if (!ok) {
      unlink(temporary.c_str());
      if (failure->error == ENOSPC || failure->error == EDQUOT) failure->kind = EngineFailure::Kind::NoSpace;
      return false;
    }
    if (!SyncDirectory(directory_, failure)) return false;
    newest = 1;
  }
  std::string path = PathOf(newest);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return *failure = IoError(errno, "open " + path), false;
  struct stat status {};
  if (fstat(fd, &status) != 0) {
    *failure = IoError(errno, "fstat " + path);
    ::close(fd);
    return false;
  }
  std::string bytes(static_cast<size_t>(status.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t got = pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      *failure = IoError(got < 0 ? errno : EIO, "read " + path);
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(got);
  }
  // Replay: records verify and count up by one, or the log ends there.
  uint64_t position = 0;
  uint64_t sequence = 0;
  std::string problem;
  while (bytes.size() - position >= kFrameBytes) {
    Reader frame(reinterpret_cast<const uint8_t*>(bytes.data()) + position, kFrameBytes);
    uint32_t magic = 0, crc = 0, length = 0;
    uint64_t recordSequence = 0;
    frame.U32(&magic);
    frame.U32(&crc);
    frame.U32(&length);
    frame.U64(&recordSequence);
    if (magic != kMagic || length > kPayloadBytesMax || length > bytes.size() - position - kFrameBytes) break;
    const uint8_t* covered = reinterpret_cast<const uint8_t*>(bytes.data()) + position + 8;
    if (Crc32c(covered, kFrameBytes - 8 + length) != crc || recordSequence != sequence + 1) break;
    std::string payload = bytes.substr(position + kFrameBytes, length);
    if (!ApplyRecord(payload, sequence == 0, state, &problem)) {
      ::close(fd);
      *failure = {EngineFailure::Kind::CorruptLog, 0, "metadata log " + path + ": " + problem};
      return false;
    }
    sequence = recordSequence;
    position += kFrameBytes + length;
  }
  if (sequence == 0) {
    ::close(fd);
    *failure = {EngineFailure::Kind::CorruptLog, 0, "metadata log " + path + " has no valid header"};
    return false;
  }
  state->validBytes = position;
  state->lastSequence = sequence;
  state->tornTail = position != bytes.size() && bytes.find_first_not_of('\0', position) != std::string::npos;
  if (position != bytes.size()) {
    // Cut what follows the last valid record (a torn write, or preallocated zeros), so nothing
    // there is ever read again; the next append preallocates afresh.
    if (ftruncate(fd, static_cast<off_t>(position)) != 0 || fsync(fd) != 0) {
      *failure = IoError(errno, "cutting the torn tail of " + path);
      ::close(fd);
      return false;
    }
  }
  for (const std::string& name : stale) unlink((directory_ + "/" + name).c_str());
  if (!stale.empty() && !SyncDirectory(directory_, failure)) {
    ::close(fd);
    return false;
  }
  std::lock_guard<std::mutex> guard(lock_);
  fd_ = fd;
  generation_ = newest;
  end_ = position;
  allocated_ = position;
  nextSequence_ = sequence + 1;
  return true;
}

bool MetaLog::WriteRecords(int fd, uint64_t* end, uint64_t* allocated, uint64_t* sequence,
                           const std::vector<Payload>& batch, EngineFailure* failure, bool* poisoned) {
  std::string bytes;
  uint64_t next = *sequence;
  for (const Payload& payload : batch) AppendFrame(&bytes, *payload, next++);
  if (*end + bytes.size() > *allocated) {
    uint64_t target = *allocated + growBytes_;
    if (target < *end + bytes.size()) target = *end + bytes.size();
    int result = posix_fallocate(fd, 0, static_cast<off_t>(target));
    if (result == EOPNOTSUPP || result == EINVAL) result = 0;  // no preallocation here: writes grow it
    if (result != 0) {
      *failure = IoError(result, "preallocating the metadata log");
      if (result == ENOSPC || result == EDQUOT) failure->kind = EngineFailure::Kind::NoSpace;
      return false;
    }
    *allocated = target;
  }
  int error = 0;
  if (!WriteFull(fd, bytes.data(), bytes.size(), *end, &error)) {
    *failure = IoError(error, "writing the metadata log");
    if (error == ENOSPC || error == EDQUOT) failure->kind = EngineFailure::Kind::NoSpace;
    // Whatever part of the batch reached the file must not replay later: zero it (the space is
    // allocated, so this needs none). If even that fails, the log's state is unknown.
    std::string zeros(bytes.size(), '\0');
    int ignored = 0;
    if (!WriteFull(fd, zeros.data(), zeros.size(), *end, &ignored)) *poisoned = true;
    return false;
  }
  *end += bytes.size();
  *sequence = next;
  return true;
}

void MetaLog::Lead(std::unique_lock<std::mutex>& lock) {
  writing_ = true;
  std::vector<Payload> batch;
  batch.swap(queue_);
  const uint64_t upTo = enqueued_;
  const bool doSync = durable_ || syncWanted_;
  syncWanted_ = false;
  uint64_t end = end_, allocated = allocated_, sequence = nextSequence_;
  const int fd = fd_;
  lock.unlock();
  EngineFailure failure;
  bool poisoned = false;
  bool ok = batch.empty() || WriteRecords(fd, &end, &allocated, &sequence, batch, &failure, &poisoned);
  if (ok && doSync && fdatasync(fd) != 0) {
    // After a failed fdatasync the kernel may have dropped the pages: nothing can be trusted.
    failure = IoError(errno, "fdatasync of the metadata log");
    ok = false;
    poisoned = true;
  }
  lock.lock();
  allocated_ = allocated;
  if (ok) {
    end_ = end;
    nextSequence_ = sequence;
    if (doSync) syncedUpTo_ = upTo;
  } else {
    if (!batch.empty()) {
      failedBatches_[upTo] = {writtenUpTo_ + 1, failure};
      while (failedBatches_.size() > 1024) failedBatches_.erase(failedBatches_.begin());
    }
    if (poisoned) {
      failed_ = true;
      failedWith_ = failure;
    }
    if (doSync && !durable_) syncWanted_ = true;
  }
  writtenUpTo_ = upTo;
  writing_ = false;
  changed_.notify_all();
}

bool MetaLog::Submit(const Payload* payloads, size_t count, bool wantSync, EngineFailure* failure) {
  std::unique_lock<std::mutex> lock(lock_);
  if (fd_ < 0) return *failure = {EngineFailure::Kind::Closed, 0, "the engine is closed"}, false;
  // Queued together under the lock, the records all go into the same leader's batch, so the batch
  // of the last one is the batch of every one (and its failure theirs).
  uint64_t ticket = enqueued_;
  for (size_t index = 0; index < count; index++) {
    queue_.push_back(payloads[index]);
    ticket = ++enqueued_;
  }
  const bool needSync = durable_ || wantSync;
  if (wantSync && syncedUpTo_ < ticket) syncWanted_ = true;
  for (;;) {
    if (count > 0) {
      auto found = failedBatches_.lower_bound(ticket);
      if (found != failedBatches_.end() && found->second.first <= ticket) {
        *failure = found->second.second;
        return false;
      }
    }
    if (failed_) return *failure = failedWith_, false;
    if (writtenUpTo_ >= ticket && (!needSync || syncedUpTo_ >= ticket)) return true;
    if (!writing_) {
      if (wantSync && syncedUpTo_ < ticket) syncWanted_ = true;
      Lead(lock);
      continue;
    }
    changed_.wait(lock);
  }
}

bool MetaLog::Append(const Payload& payload, EngineFailure* failure) { return Submit(&payload, 1, false, failure); }

bool MetaLog::AppendMany(const std::vector<Payload>& payloads, EngineFailure* failure) {
  return Submit(payloads.data(), payloads.size(), false, failure);
}

bool MetaLog::Sync(EngineFailure* failure) { return Submit(nullptr, 0, true, failure); }

bool MetaLog::Compact(const std::function<std::vector<Payload>()>& snapshot, EngineFailure* failure) {
  std::unique_lock<std::mutex> lock(lock_);
  while (writing_) changed_.wait(lock);
  if (fd_ < 0) return *failure = {EngineFailure::Kind::Closed, 0, "the engine is closed"}, false;
  if (failed_) return *failure = failedWith_, false;
  writing_ = true;
  const uint64_t generation = generation_ + 1;
  const uint64_t writtenUpTo = writtenUpTo_;
  lock.unlock();

  std::vector<Payload> records{EncodeHeader(header_)};
  for (Payload& payload : snapshot()) records.push_back(std::move(payload));
  const std::string temporary = PathOf(generation) + ".tmp";
  uint64_t end = 0, allocated = 0, sequence = 1;
  bool ok = true, switched = false;
  int fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ok = (*failure = IoError(errno, "create " + temporary), false);
  bool unused = false;  // a torn new file is deleted below: nothing to poison
  if (ok) ok = WriteRecords(fd, &end, &allocated, &sequence, records, failure, &unused);
  if (ok && fdatasync(fd) != 0) ok = (*failure = IoError(errno, "fdatasync " + temporary), false);
  if (ok && rename(temporary.c_str(), PathOf(generation).c_str()) != 0) {
    ok = (*failure = IoError(errno, "rename " + temporary), false);
  }
  if (ok) {
    switched = true;
    ok = SyncDirectory(directory_, failure);
  }
  if (!switched) {
    if (fd >= 0) ::close(fd);
    unlink(temporary.c_str());
  }
  lock.lock();
  if (switched) {
    ::close(fd_);
    unlink(PathOf(generation_).c_str());
    fd_ = fd;
    generation_ = generation;
    end_ = end;
    allocated_ = allocated;
    nextSequence_ = sequence;
    // The new file holds, on stable storage, every record written so far.
    syncedUpTo_ = writtenUpTo;
    if (!ok) {
      failed_ = true;
      failedWith_ = *failure;
    }
  }
  writing_ = false;
  changed_.notify_all();
  return ok;
}

uint64_t MetaLog::Bytes() {
  std::lock_guard<std::mutex> guard(lock_);
  return end_;
}

uint64_t MetaLog::Generation() {
  std::lock_guard<std::mutex> guard(lock_);
  return generation_;
}

void MetaLog::Close() {
  std::unique_lock<std::mutex> lock(lock_);
  while (writing_) changed_.wait(lock);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace chunk_engine
