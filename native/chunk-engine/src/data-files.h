// The data files of an engine: `<dir>/data/<slot bytes>-<file number>.dat`, one series per size
// class, each file holding a fixed number of slots. Files are preallocated (fallocate) ahead of use
// in steps, so a full disk shows up as ENOSPC before any byte of a block is written, and writes
// into preallocated space do not grow the file.
//
// Writes of whole 4 KiB pages at page-aligned offsets go around the page cache (O_DIRECT, through a
// per-thread aligned bounce buffer when the caller's bytes are not page-aligned): copying a block
// into fresh page-cache pages and writing it back later costs more CPU than the device needs, and
// a chunk server's blocks are read by clients, not by this host. Other writes, and every read, use
// the page cache. A file system that refuses O_DIRECT gets buffered writes throughout. fdatasync
// covers both kinds alike (one inode).
//
// Thread-safe: workers on several threads read and write at once. A file's descriptor, once
// opened, stays open until the engine closes; growth of a file is serialized by its own lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "slot-allocator.h"

namespace chunk_engine {

/** An I/O failure with its errno, as the engine reports it. */
struct IoFailure {
  int error = 0;
  std::string what;
};

/**
 * pwrite of all `length` bytes at `position` (retrying short writes and EINTR); false with `*error`
 * set to the errno otherwise.
 */
bool WriteFull(int fd, const void* data, size_t length, uint64_t position, int* error);

class DataFiles {
 public:
  DataFiles(std::string directory, SizeClasses classes, uint64_t growBytes, bool directWrites, bool directReads);
  ~DataFiles();

  /** Creates the data directory; false with `failure` set on an error. */
  bool Prepare(IoFailure* failure);
  /** Makes sure the slot's bytes are allocated on disk (grows the file in steps). */
  bool Reserve(SlotRef slot, IoFailure* failure);
  /** Writes `length` bytes from `offsetInSlot`; they may run on into the file's following slots. */
  bool Write(SlotRef slot, uint32_t offsetInSlot, const uint8_t* data, size_t length, IoFailure* failure);
  /** How a read may reach the file. */
  enum class ReadPath {
    /** Through the page cache. */
    Buffered,
    /** Only from the page cache (RWF_NOWAIT): bytes not all there fail with EAGAIN at once. */
    CachedOnly,
    /**
     * Around the page cache (O_DIRECT) when the position, the length and `data` are page-aligned
     * and the file system allows it; through the page cache otherwise. A direct read sees every
     * write, buffered or not: the kernel writes dirty cached pages of the range back first.
     */
    Direct,
  };
  /** Reads exactly `length` bytes; a file that ends early is an error (EIO). */
  bool Read(SlotRef slot, uint32_t offsetInSlot, uint8_t* data, size_t length, IoFailure* failure,
            ReadPath path = ReadPath::Buffered);
  /**
   * Where a slot's bytes are for a read through the page cache by someone else (the read ring):
   * the buffered descriptor and the position. It stays open until Close.
   */
  bool Locate(SlotRef slot, int* fd, uint64_t* position, IoFailure* failure);
  /** Reads that went around the page cache, since the files were opened. */
  uint64_t DirectReads() const { return directReads_.load(std::memory_order_relaxed); }
  /** fdatasyncs every file written since the last call (the caller groups concurrent calls). */
  bool SyncWritten(IoFailure* failure);
  /** Closes every descriptor; later calls fail. */
  void Close();
  uint64_t SlotOffset(SlotRef slot) const;

 private:
  struct File {
    int fd = -1;
    /** The same file opened with O_DIRECT, or -1 (not wanted, or refused by the file system). */
    int directFd = -1;
    /** Cleared when the file system refuses a direct write: later writes are buffered. */
    std::atomic<bool> direct{false};
    /** Cleared when the file system refuses a direct read: later reads are buffered. */
    std::atomic<bool> directReads{false};
    uint64_t allocatedBytes = 0;
    std::mutex growLock;
  };
  File* Open(uint32_t sizeClass, uint32_t file, IoFailure* failure);
  bool WriteDirect(File* file, uint64_t position, const uint8_t* data, size_t length, IoFailure* failure);

  const std::string directory_;
  const SizeClasses classes_;
  const uint64_t growBytes_;
  const bool directWrites_;
  const bool directReadsWanted_;
  std::atomic<uint64_t> directReads_{0};
  /** Cleared when the file system refuses RWF_NOWAIT reads: cached-only reads then fail at once. */
  std::atomic<bool> nowaitReads_{true};
  std::mutex lock_;  // guards files_ and written_
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<File>> files_;
  std::set<File*> written_;
  bool directoryDirty_ = false;  // a data file was created since the last SyncWritten
  bool closed_ = false;
};

}  // namespace chunk_engine
