// One request from the kernel on its way to JavaScript and back, and the JavaScript handle that
// answers it. Invariants:
//  - A Request is answered at most once: by a reply method of its handle, by the handle's
//    finalizer (EIO, when JavaScript dropped it unanswered), or by session teardown (EIO).
//  - While unanswered, a Request is in its session's pending table; answering removes it there
//    and returns its in-flight slot, all on the JavaScript thread.
//  - Every value from JavaScript is validated before it reaches libfuse; a bad value throws a
//    TypeError and leaves the request unanswered, so the caller can still answer it correctly.
#pragma once

#include <sys/stat.h>
#include <fcntl.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <napi.h>

#include "fuse-api.h"
#include "opcodes.h"

namespace fusebinding {

class SessionCore;

/** Bytes owned by a request (write data, xattr values) until they are handed to JavaScript. */
struct OwnedBytes {
  char* base = nullptr;    // what free() takes; may precede `data` (a whole receive buffer)
  char* data = nullptr;    // first byte of the payload
  size_t length = 0;       // payload bytes
  size_t allocation = 0;   // bytes behind `base`, reported to V8 as external memory
  bool receiveBuffer = false;  // `base` is a whole receive buffer (receive-pool.h may keep it)

  OwnedBytes() = default;
  OwnedBytes(const OwnedBytes&) = delete;
  OwnedBytes& operator=(const OwnedBytes&) = delete;
  ~OwnedBytes() { std::free(base); }

  /** Allocates `size` bytes (at least one, so an empty payload still has a valid pointer). */
  bool Allocate(size_t size);
  /** Gives `base` away; the caller frees it. */
  void Release() {
    base = data = nullptr;
    length = allocation = 0;
    receiveBuffer = false;
  }
  /** Frees the bytes now. */
  void Clear() {
    std::free(base);
    Release();
  }
};

/** What the kernel and libfuse agreed on at INIT, reported to JavaScript once. */
struct ConnectionReport {
  uint32_t protoMajor = 0;
  uint32_t protoMinor = 0;
  uint32_t capable = 0;
  uint32_t want = 0;
  uint32_t maxWrite = 0;
  uint32_t maxRead = 0;
  uint32_t maxReadahead = 0;
  uint32_t maxBackground = 0;
  uint32_t congestionThreshold = 0;
  uint32_t timeGranularity = 0;
};

enum class RequestState : uint8_t {
  Queued,     // on its way to JavaScript through the thread-safe function
  Delivered,  // JavaScript holds its handle
  Answered,   // a reply was sent
  Aborted,    // session teardown answered it (or dropped it) on JavaScript's behalf
};

/**
 * A request (or event) with a copy of everything JavaScript needs: libfuse's argument pointers
 * are only valid during the callback, so names and data are copied once, here.
 */
struct Request {
  std::shared_ptr<SessionCore> session;
  fuse_req_t req = nullptr;  // null for events, and once answered or aborted
  uint64_t id = 0;
  Opcode op = Opcode::Lookup;
  RequestState state = RequestState::Queued;
  bool holdsSlot = false;
  std::atomic<bool> interrupted{false};

  // Caller context (fuse_req_ctx), copied at arrival.
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  uint32_t umask = 0;

  // Arguments; which ones are meaningful depends on `op` (see ArgumentsFor in dispatch).
  fuse_ino_t ino = 0;
  fuse_ino_t ino2 = 0;
  std::string name;
  std::string name2;
  uint64_t fh = 0;
  uint64_t fh2 = 0;
  bool hasFh = false;
  uint64_t offset = 0;
  uint64_t offset2 = 0;
  uint64_t length = 0;
  uint64_t lockOwner = 0;
  uint32_t mode = 0;
  uint32_t rdev = 0;
  uint32_t flags = 0;
  int32_t number = 0;  // datasync, access mask, lseek whence, flock operation, setattr to_set
  bool flag = false;   // writepage, lock sleep, flock_release
  struct flock lock {};
  struct stat attr {};
  OwnedBytes data;
  std::vector<fuse_forget_data> forgets;
  std::unique_ptr<ConnectionReport> connection;

  // readdir/readdirplus reply being assembled by addDirentry calls (the per-entry path, which the
  // file systems no longer use: it is the reference their packed replies are tested against).
  std::vector<char> directory;
  size_t directoryUsed = 0;
};

/** The JavaScript object that owns one delivered Request and answers it. */
class RequestHandle : public Napi::ObjectWrap<RequestHandle> {
 public:
  /** Defines the class; the constructor is kept in the addon's instance data. */
  static Napi::Function Define(Napi::Env env);
  /** Wraps `request` in a new handle that takes ownership of it. */
  static Napi::Object Create(Napi::Env env, std::unique_ptr<Request> request);

  explicit RequestHandle(const Napi::CallbackInfo& info);
  ~RequestHandle() override;

  /** The wrapped request, for the dispatcher (which runs before JavaScript sees the handle). */
  Request& request() { return *request_; }

 private:
  Napi::Value GetId(const Napi::CallbackInfo& info);
  Napi::Value IsInterrupted(const Napi::CallbackInfo& info);
  Napi::Value IsAnswered(const Napi::CallbackInfo& info);
  Napi::Value Groups(const Napi::CallbackInfo& info);

  Napi::Value ReplyErr(const Napi::CallbackInfo& info);
  Napi::Value ReplyOk(const Napi::CallbackInfo& info);
  Napi::Value ReplyNone(const Napi::CallbackInfo& info);
  Napi::Value ReplyEntry(const Napi::CallbackInfo& info);
  Napi::Value ReplyCreate(const Napi::CallbackInfo& info);
  Napi::Value ReplyAttr(const Napi::CallbackInfo& info);
  Napi::Value ReplyReadlink(const Napi::CallbackInfo& info);
  Napi::Value ReplyOpen(const Napi::CallbackInfo& info);
  Napi::Value ReplyWrite(const Napi::CallbackInfo& info);
  Napi::Value ReplyBuffer(const Napi::CallbackInfo& info);
  Napi::Value ReplyXattrSize(const Napi::CallbackInfo& info);
  Napi::Value ReplyStatfs(const Napi::CallbackInfo& info);
  Napi::Value ReplyLock(const Napi::CallbackInfo& info);
  Napi::Value ReplyLseek(const Napi::CallbackInfo& info);
  Napi::Value AddDirentry(const Napi::CallbackInfo& info);
  Napi::Value AddDirentryPlus(const Napi::CallbackInfo& info);
  /** Sends the entries added so far, or (with one argument) entries packed by JavaScript. */
  Napi::Value ReplyDirectory(const Napi::CallbackInfo& info);
  /** A copy of the entries addDirentry and addDirentryPlus assembled so far (libfuse's packing). */
  Napi::Value DirectoryBytes(const Napi::CallbackInfo& info);

  /** Throws unless the request is unanswered and `reply` is a valid answer to its opcode. */
  Request& Expect(const Napi::CallbackInfo& info, const char* reply, uint64_t allowedOps);
  /** Records the answer sent with result `sent` (libfuse's return value); true when delivered. */
  Napi::Value Finish(Napi::Env env, int sent);
  /** Appends one entry to the directory reply; false when it does not fit. */
  bool AppendDirectoryEntry(Request& request, const std::string& name, const struct stat& attr,
                            const fuse_entry_param* entry, uint64_t nextOffset);

  std::unique_ptr<Request> request_;
};

}  // namespace fusebinding
