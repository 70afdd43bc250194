// One FUSE session: the libfuse session, its mount, the threads that read requests from
// /dev/fuse, the bound on requests in flight, and teardown. Invariants:
//  - Worker threads only receive, copy and queue requests; all answers are sent on the JavaScript
//    thread (or by a worker refusing a request it could not queue), so teardown, which also runs
//    on the JavaScript thread, never races a reply.
//  - At most `maxInflight` requests are unanswered at once (blocking lock waits excepted: they
//    may wait forever and must not starve the unlock that would release them). A worker that
//    finds no free slot waits, which stops it reading /dev/fuse: back-pressure reaches the kernel.
//  - Teardown order: stop the workers, answer every pending request, unmount (closing the device
//    fd), wait for notifications in progress, destroy the libfuse session, release the
//    thread-safe function. Nothing touches the libfuse session after it is destroyed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <napi.h>
#include <uv.h>

#include "fast-reads.h"
#include "fuse-api.h"
#include "request.h"

namespace fusebinding {

/** Mount and session options, validated by SessionWrap before they get here. */
struct SessionOptions {
  std::string fsName;
  std::string subtype;
  bool allowOther = false;
  bool defaultPermissions = true;
  bool readOnly = false;
  bool autoUnmount = true;
  bool debug = false;
  uint32_t maxReadBytes = 0;        // mount option max_read; 0 leaves the kernel's default
  uint32_t maxWriteBytes = 0;       // requested; libfuse and the kernel may lower it
  uint32_t maxReadaheadBytes = 0;   // requested; the kernel's offer is the upper bound
  uint32_t maxBackground = 0;       // 0 leaves libfuse's default
  uint32_t congestionThreshold = 0; // 0: three quarters of maxBackground
  bool writebackCache = false;
  bool asyncRead = true;
  bool parallelDirops = true;
  bool atomicOTrunc = true;
  bool cacheSymlinks = false;
  bool spliceRead = false;
  int readdirplus = 1;              // 0 never, 1 auto (kernel decides), 2 always
  bool posixLocks = true;           // only with getlk and setlk handlers
  bool flockLocks = true;           // only with a flock handler
  bool posixAcl = false;            // the kernel enforces ACLs; modes arrive without the umask
  // FLUSH of a file handle is answered here, without JavaScript, while nothing was written,
  // allocated, truncated or locked on its inode since the inode's first open handle (see
  // operations.cc OnFlush): for file systems whose flush has nothing to do then.
  bool flushOnlyTouched = false;
  /** Worker threads reading the device; 0 reads it on the JavaScript thread (see session.cc). */
  uint32_t threads = 0;
  uint32_t maxInflight = 128;
  std::vector<std::string> operations;  // names of the handlers JavaScript implements
};

class SessionCore;

/** Delivers queued requests and events to the JavaScript dispatcher (runs on the JS thread). */
void DeliverToJavaScript(Napi::Env env, Napi::Function dispatch, SessionCore* context, Request* request);

using Dispatcher = Napi::TypedThreadSafeFunction<SessionCore, Request, DeliverToJavaScript>;

class SessionCore : public std::enable_shared_from_this<SessionCore> {
 public:
  SessionCore(const SessionOptions& options);
  ~SessionCore();
  SessionCore(const SessionCore&) = delete;
  SessionCore& operator=(const SessionCore&) = delete;

  // ---- JavaScript thread
  /** Creates the libfuse session; throws Napi::Error with libfuse's own messages on failure. */
  void Create(Napi::Env env);
  /**
   * Mounts, then starts the workers that hand requests to `dispatch`; throws Napi::Error with
   * libfuse's messages on failure.
   */
  void Mount(Napi::Env env, const std::string& mountpoint, Napi::Function dispatch);
  /** Stops reading new requests (requests already queued still reach JavaScript). */
  void StopWorkers();
  /** Unanswered requests, including those still queued for JavaScript. */
  size_t PendingCount();
  /** Answers what is pending with EIO, unmounts and frees everything. Idempotent. */
  void Close();
  bool mounted() const { return mounted_; }
  /** Our reference to fusermount3's auto-unmount socket, or -1 (see auto-unmount.h). */
  int autoUnmountSocket() const { return autoUnmountSocket_; }
  bool closed() const { return closed_; }
  /** Removes `request` from the pending table and returns its slot, after it was answered. */
  void Complete(Request& request);
  /** Answers `request` with EIO unless already answered (used when JavaScript cannot). */
  void AnswerWithError(Request& request, int error);
  /**
   * Starts answering registered reads without JavaScript (fast-reads.h); null when the session
   * reads /dev/fuse on worker threads, where this path does not run.
   */
  FastReads* EnableFastReads(Napi::Env env, const FastReadOptions& options);
  FastReads* fastReads() { return fastReads_.get(); }
  /** Hands `request` to JavaScript from an event-loop callback (fast reads giving one back). */
  void DeliverFromLoop(Request* request);
  /** Called by the thread-safe function's finalizer: it must not be released again. */
  void DispatcherFinalized() { dispatcherFinalized_ = true; }

  // ---- notification threads (libuv's pool)
  /** Registers a notification in progress; false when the session is closing. */
  bool BeginNotify();
  void EndNotify();
  struct fuse_session* session() const { return session_; }

  // ---- worker threads (libfuse callbacks)
  /**
   * Queues `request` for JavaScript, waiting for an in-flight slot first unless `unlimited`
   * (blocking lock waits, which also become interruptible); answers it itself on failure.
   */
  void Dispatch(std::unique_ptr<Request> request, bool unlimited);
  /** Queues an event (no reply) for JavaScript; dropped when the session is closing. */
  void PostEvent(std::unique_ptr<Request> event);
  /** Applies the options to the connection at INIT and reports the outcome to JavaScript. */
  void Negotiate(struct fuse_conn_info* connection);
  /** Called from libfuse when the kernel interrupts a request we registered for. */
  void Interrupt(fuse_req_t req);
  uint64_t NextRequestId() { return nextRequestId_.fetch_add(1, std::memory_order_relaxed); }

  // ---- FLUSH without JavaScript (options().flushOnlyTouched; operations.cc OnFlush), any thread
  /** `fh` of `ino` is about to be given to the kernel (an OPEN or CREATE reply). */
  void FileOpened(uint64_t fh, fuse_ino_t ino);
  /** Something that a flush of `ino`'s handles must see happened (a write, a lock, ...). */
  void FileTouched(fuse_ino_t ino);
  /** True, and counted, when a FLUSH of `fh` on `ino` has nothing to do. */
  bool FlushNeedsNothing(uint64_t fh, fuse_ino_t ino);
  /** `fh` is released (or was never delivered). */
  void FileReleased(uint64_t fh);
  /** FLUSH requests answered without JavaScript so far. */
  uint64_t flushesAnswered() const { return flushesAnswered_.load(std::memory_order_relaxed); }
  // ---- READDIR without JavaScript (operations.cc OnReaddir), any thread
  /**
   * Plain readdir records of the listing open as `fh`, packed end to end: record i starts at
   * starts[i] and resumes at offset firstOffset + i; `count` records. Later READDIRs of `fh` past
   * the dots are answered from them until DropListing.
   */
  void ServeListing(uint64_t fh, std::vector<uint8_t> bytes, std::vector<uint32_t> starts, uint64_t firstOffset);
  /** Stops answering READDIRs of `fh` (its listing changed, or it is released). */
  void DropListing(uint64_t fh);
  /** True, and answered, when a READDIR of `fh` at `offset` comes from a served listing. */
  bool AnswerReaddir(fuse_req_t req, uint64_t fh, size_t size, uint64_t offset);
  /** READDIR requests answered without JavaScript so far. */
  uint64_t readdirsAnswered() const { return readdirsAnswered_.load(std::memory_order_relaxed); }
  /** The receive buffer of the calling worker, to take large write payloads without a copy. */
  bool TakeReceiveBuffer(const char* payload, size_t length, OwnedBytes* out);
  const SessionOptions& options() const { return options_; }

 private:
  struct OpenInode {
    uint32_t handles = 0;
    bool touched = false;
  };
  std::mutex flushLock_;
  std::unordered_map<uint64_t, fuse_ino_t> openFiles_;
  std::unordered_map<fuse_ino_t, OpenInode> openInodes_;
  std::atomic<uint64_t> flushesAnswered_{0};
  struct ServedListing {
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> starts;  // count + 1 entries
    uint64_t firstOffset = 0;
  };
  std::mutex listingsLock_;
  std::unordered_map<uint64_t, std::shared_ptr<const ServedListing>> listings_;
  std::atomic<uint64_t> readdirsAnswered_{0};

  void WorkerMain();
  // ---- reading on the JavaScript thread (threads == 0)
  bool OnJsThread() const { return options_.threads == 0; }
  void StartPolling(Napi::Env env, Napi::Function dispatch);
  void StopPolling();
  static void OnDeviceReadable(uv_poll_t* handle, int status, int events);
  void ReadOnJsThread(int status, int events);
  void ResumePollingIfPaused();
  bool AcquireSlot();
  void ReleaseSlot();
  void AbortPending();
  /**
   * Until no notification is inside the kernel (or the drain times out): reads the requests still
   * arriving and answers each EIO, without libfuse (its session has exited). See Close.
   */
  void RefuseUntilNotifiesDrain();
  void StartWorkers();
  void ReleaseDispatcher();
  static void EnvironmentCleanup(void* core);

  const SessionOptions options_;
  struct fuse_session* session_ = nullptr;
  Dispatcher dispatcher_;
  bool dispatcherCreated_ = false;
  bool cleanupHookAdded_ = false;
  std::atomic<bool> dispatcherFinalized_{false};
  napi_env env_ = nullptr;
  bool mounted_ = false;
  bool closed_ = false;
  int deviceFd_ = -1;
  int wakeFd_ = -1;  // eventfd: readable once the workers must stop
  int autoUnmountSocket_ = -1;  // our reference to fusermount3's socket (see auto-unmount.h)

  std::vector<std::thread> workers_;
  uv_poll_t* poll_ = nullptr;  // threads == 0: the device in the JavaScript thread's loop
  bool pollPaused_ = false;    // stopped while maxInflight requests wait for JavaScript
  struct fuse_buf jsBuffer_ {};
  std::vector<Request*> jsQueue_;  // read on the JavaScript thread, to deliver after processing
  bool inReadRound_ = false;       // inside ReadOnJsThread: deliveries wait in jsQueue_
  std::unique_ptr<FastReads> fastReads_;
  Napi::FunctionReference jsDispatch_;
  napi_async_context jsAsyncContext_ = nullptr;
  bool environmentEnding_ = false;  // set by EnvironmentCleanup
  std::atomic<bool> stopping_{false};
  std::atomic<bool> endedReported_{false};
  std::atomic<uint64_t> nextRequestId_{1};
  std::atomic<uint32_t> negotiatedMaxWrite_{0};

  std::mutex slotMutex_;
  std::condition_variable slotFreed_;
  uint32_t inflight_ = 0;

  std::mutex pendingMutex_;
  std::unordered_map<fuse_req_t, Request*> pending_;

  std::mutex notifyMutex_;
  std::condition_variable notifyDone_;
  uint32_t notifiesActive_ = 0;
  bool notifyClosed_ = false;
};

}  // namespace fusebinding
