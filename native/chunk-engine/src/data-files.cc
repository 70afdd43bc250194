#include "data-files.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace chunk_engine {
namespace {

bool Fail(IoFailure* failure, int error, const std::string& what) {
  failure->error = error;
  failure->what = what + ": " + std::strerror(error);
  return false;
}

// O_DIRECT wants the offset, the length and the memory aligned to the device's logical block; a
// page covers every logical block size in use.
constexpr uint64_t kDirectAlign = 4096;
// The most one direct write copies through the bounce buffer at a time.
constexpr size_t kBounceBytesMax = 4u << 20;

bool Aligned(uint64_t value) { return value % kDirectAlign == 0; }

// A page-aligned buffer per worker thread, kept between writes.
struct BounceBuffer {
  uint8_t* data = nullptr;
  size_t size = 0;
  ~BounceBuffer() { std::free(data); }
  bool Reserve(size_t bytes) {
    if (bytes <= size) return true;
    std::free(data);
    data = nullptr;
    size = 0;
    void* memory = nullptr;
    if (posix_memalign(&memory, kDirectAlign, bytes) != 0) return false;
    data = static_cast<uint8_t*>(memory);
    size = bytes;
    return true;
  }
};
thread_local BounceBuffer bounce;

}  // namespace

bool WriteFull(int fd, const void* data, size_t length, uint64_t position, int* error) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < length) {
    ssize_t written = pwrite(fd, bytes + done, length - done, static_cast<off_t>(position + done));
    if (written < 0) {
      if (errno == EINTR) continue;
      *error = errno;
      return false;
    }
    done += static_cast<size_t>(written);
  }
  return true;
}

DataFiles::DataFiles(std::string directory, SizeClasses classes, uint64_t growBytes, bool directWrites,
                     bool directReads)
    : directory_(std::move(directory)),
      classes_(std::move(classes)),
      growBytes_(growBytes),
      directWrites_(directWrites),
      directReadsWanted_(directReads) {}

DataFiles::~DataFiles() { Close(); }

bool DataFiles::Prepare(IoFailure* failure) {
  std::string data = directory_ + "/data";
  if (mkdir(data.c_str(), 0755) != 0 && errno != EEXIST) return Fail(failure, errno, "mkdir " + data);
  return true;
}

uint64_t DataFiles::SlotOffset(SlotRef slot) const {
  return static_cast<uint64_t>(SlotIndex(slot)) * classes_.slotBytes.at(SlotClass(slot));
}

DataFiles::File* DataFiles::Open(uint32_t sizeClass, uint32_t file, IoFailure* failure) {
  std::lock_guard<std::mutex> guard(lock_);
  if (closed_) {
    Fail(failure, EBADF, "the engine is closed");
    return nullptr;
  }
  auto key = std::make_pair(sizeClass, file);
  auto found = files_.find(key);
  if (found != files_.end()) return found->second.get();
  std::string path = directory_ + "/data/" + std::to_string(classes_.slotBytes.at(sizeClass)) + "-" +
                     std::to_string(file) + ".dat";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    directoryDirty_ = true;
  } else if (errno == EEXIST) {
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    Fail(failure, errno, "open " + path);
    return nullptr;
  }
  struct stat status {};
  if (fstat(fd, &status) != 0) {
    Fail(failure, errno, "fstat " + path);
    ::close(fd);
    return nullptr;
  }
  auto entry = std::make_unique<File>();
  entry->fd = fd;
  if (directWrites_ || directReadsWanted_) {
    // EINVAL: a file system without O_DIRECT (tmpfs, some FUSE ones); its I/O stays buffered.
    entry->directFd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    entry->direct = directWrites_ && entry->directFd >= 0;
    entry->directReads = directReadsWanted_ && entry->directFd >= 0;
  }
  entry->allocatedBytes = static_cast<uint64_t>(status.st_size);
  File* result = entry.get();
  files_.emplace(key, std::move(entry));
  // A new file's directory entry must be durable before metadata points into it: SyncWritten
  // fsyncs the data directory too when a file was created.
  return result;
}

bool DataFiles::Reserve(SlotRef slot, IoFailure* failure) {
  File* file = Open(SlotClass(slot), SlotFile(slot), failure);
  if (file == nullptr) return false;
  const uint64_t end = SlotOffset(slot) + classes_.slotBytes[SlotClass(slot)];
  std::lock_guard<std::mutex> guard(file->growLock);
  if (end <= file->allocatedBytes) return true;
  uint64_t target = file->allocatedBytes + growBytes_;
  if (target < end) target = end;
  if (target > classes_.fileBytes) target = classes_.fileBytes;
  int result = posix_fallocate(file->fd, 0, static_cast<off_t>(target));
  if (result == EOPNOTSUPP || result == EINVAL) {
    // A file system without preallocation: the file grows as blocks are written.
    if (ftruncate(file->fd, static_cast<off_t>(target)) != 0) return Fail(failure, errno, "ftruncate");
    result = 0;
  }
  if (result != 0) return Fail(failure, result, "preallocating a data file");
  file->allocatedBytes = target;
  return true;
}

bool DataFiles::Write(SlotRef slot, uint32_t offsetInSlot, const uint8_t* data, size_t length,
                      IoFailure* failure) {
  File* file = Open(SlotClass(slot), SlotFile(slot), failure);
  if (file == nullptr) return false;
  uint64_t position = SlotOffset(slot) + offsetInSlot;
  const bool direct = file->direct.load(std::memory_order_relaxed) && Aligned(position) && Aligned(length);
  if (!direct || !WriteDirect(file, position, data, length, failure)) {
    if (direct && failure->error != EINVAL) return false;
    int error = 0;
    if (!WriteFull(file->fd, data, length, position, &error)) return Fail(failure, error, "writing a data file");
  }
  std::lock_guard<std::mutex> guard(lock_);
  written_.insert(file);
  return true;
}

bool DataFiles::WriteDirect(File* file, uint64_t position, const uint8_t* data, size_t length,
                            IoFailure* failure) {
  int error = 0;
  bool written = true;
  if (reinterpret_cast<uintptr_t>(data) % kDirectAlign == 0) {
    written = WriteFull(file->directFd, data, length, position, &error);
  } else {
    if (!bounce.Reserve(std::min(length, kBounceBytesMax))) return Fail(failure, ENOMEM, "a direct write's buffer");
    for (size_t done = 0; written && done < length;) {
      const size_t piece = std::min(length - done, kBounceBytesMax);
      std::memcpy(bounce.data, data + done, piece);
      written = WriteFull(file->directFd, bounce.data, piece, position + done, &error);
      done += piece;
    }
  }
  if (written) return true;
  // The file system refuses direct writes after all: this and later writes go through the cache.
  if (error == EINVAL) file->direct = false;
  return Fail(failure, error, "writing a data file directly");
}

bool DataFiles::Locate(SlotRef slot, int* fd, uint64_t* position, IoFailure* failure) {
  File* file = Open(SlotClass(slot), SlotFile(slot), failure);
  if (file == nullptr) return false;
  *fd = file->fd;
  *position = SlotOffset(slot);
  return true;
}

bool DataFiles::Read(SlotRef slot, uint32_t offsetInSlot, uint8_t* data, size_t length,
                     IoFailure* failure, ReadPath path) {
  File* file = Open(SlotClass(slot), SlotFile(slot), failure);
  if (file == nullptr) return false;
  uint64_t position = SlotOffset(slot) + offsetInSlot;
  if (path == ReadPath::Direct && file->directReads.load(std::memory_order_relaxed) && Aligned(position) &&
      Aligned(length) && Aligned(reinterpret_cast<uintptr_t>(data))) {
    size_t done = 0;
    int error = 0;
    while (done < length) {
      ssize_t got = pread(file->directFd, data + done, length - done, static_cast<off_t>(position + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        error = got < 0 ? errno : EIO;
        break;
      }
      done += static_cast<size_t>(got);
    }
    if (done == length) {
      directReads_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    // The file system refuses direct reads after all: this and later reads go through the cache.
    if (error == EINVAL) {
      file->directReads = false;
    } else {
      return Fail(failure, error,
                  error == EIO ? "a data file ends before a block it holds" : "reading a data file directly");
    }
  }
  if (path == ReadPath::CachedOnly) {
    if (!nowaitReads_.load(std::memory_order_relaxed)) return Fail(failure, EOPNOTSUPP, "no RWF_NOWAIT reads here");
    struct iovec vector = {data, length};
    ssize_t got = -1;
    do {
      got = preadv2(file->fd, &vector, 1, static_cast<off_t>(position), RWF_NOWAIT);
    } while (got < 0 && errno == EINTR);
    // A kernel or file system without RWF_NOWAIT says so on every call: stop asking it.
    if (got < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) nowaitReads_ = false;
    if (got < 0) return Fail(failure, errno, "reading a data file from the page cache");
    if (static_cast<size_t>(got) != length) return Fail(failure, EAGAIN, "part of a block is not in the page cache");
    return true;
  }
  size_t done = 0;
  while (done < length) {
    ssize_t got = pread(file->fd, data + done, length - done, static_cast<off_t>(position + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Fail(failure, errno, "reading a data file");
    }
    if (got == 0) return Fail(failure, EIO, "a data file ends before a block it holds");
    done += static_cast<size_t>(got);
  }
  return true;
}

bool DataFiles::SyncWritten(IoFailure* failure) {
  std::vector<File*> files;
  bool directoryDirty = false;
  {
    std::lock_guard<std::mutex> guard(lock_);
    files.assign(written_.begin(), written_.end());
    written_.clear();
    directoryDirty = directoryDirty_;
    directoryDirty_ = false;
  }
  bool ok = true;
  for (File* file : files) {
    if (fdatasync(file->fd) != 0 && ok) {
      ok = Fail(failure, errno, "fdatasync of a data file");
      std::lock_guard<std::mutex> guard(lock_);
      written_.insert(file);
    }
  }
  if (!ok || !directoryDirty) {
    if (directoryDirty) {
      std::lock_guard<std::mutex> guard(lock_);
      directoryDirty_ = true;
    }
    return ok;
  }
  std::string data = directory_ + "/data";
  int fd = ::open(data.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(failure, errno, "open " + data);
  if (fsync(fd) != 0) {
    ok = Fail(failure, errno, "fsync " + data);
    std::lock_guard<std::mutex> guard(lock_);
    directoryDirty_ = true;
  }
  ::close(fd);
  return ok;
}

void DataFiles::Close() {
  std::lock_guard<std::mutex> guard(lock_);
  closed_ = true;
  for (auto& [key, file] : files_) {
    if (file->fd >= 0) ::close(file->fd);
    if (file->directFd >= 0) ::close(file->directFd);
    file->fd = -1;
    file->directFd = -1;
    file->direct = false;
  }
  written_.clear();
}

}  // namespace chunk_engine
