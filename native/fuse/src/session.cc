#include "session.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "auto-unmount.h"
#include "js-values.h"
#include "libfuse-log.h"
#include "operations.h"
#include "receive-pool.h"

namespace fusebinding {
namespace {

// How long teardown waits for notifications stuck in the kernel (they wait for inode locks held
// by requests, which teardown has just answered, so this is a backstop, not a normal wait).
constexpr auto kNotifyDrainTimeout = std::chrono::seconds(10);
// Pause after an unexpected receive error, so a persistent one cannot spin a core.
constexpr auto kReceiveErrorPause = std::chrono::milliseconds(10);
// libfuse's receive buffer is max_write plus this header room (FUSE_BUFFER_HEADER_SIZE).
constexpr size_t kReceiveHeaderBytes = 0x1000;

/** The receive buffer of the current worker thread, so a write can take it instead of copying. */
struct ReceiveBuffer {
  struct fuse_buf* buffer = nullptr;
  bool taken = false;
  size_t takenAllocation = 0;  // bytes of the buffer a write took (libfuse's receive size)
};

thread_local ReceiveBuffer tlReceive;

/** After a write took the receive buffer: the next receive reads into a kept one, or libfuse allocates. */
void ReplaceTakenBuffer(struct fuse_buf& buffer) {
  buffer.mem = TakePooledReceiveBuffer(tlReceive.takenAllocation);
  buffer.size = 0;
  tlReceive.taken = false;
}

std::string JoinOptions(const SessionOptions& o) {
  std::vector<std::string> parts;
  if (!o.fsName.empty()) parts.push_back("fsname=" + o.fsName);
  if (!o.subtype.empty()) parts.push_back("subtype=" + o.subtype);
  if (o.allowOther) parts.push_back("allow_other");
  if (o.defaultPermissions) parts.push_back("default_permissions");
  if (o.readOnly) parts.push_back("ro");
  if (o.autoUnmount) parts.push_back("auto_unmount");
  if (o.maxReadBytes != 0) parts.push_back("max_read=" + std::to_string(o.maxReadBytes));
  std::string joined;
  for (const auto& part : parts) {
    if (!joined.empty()) joined += ",";
    joined += part;
  }
  return joined;
}

bool IsForget(Opcode op) { return op == Opcode::Forget || op == Opcode::ForgetMulti; }

void ReplyRefusal(fuse_req_t req, Opcode op, int error) {
  if (IsForget(op)) {
    fuse_reply_none(req);
  } else {
    fuse_reply_err(req, error);
  }
}

}  // namespace

SessionCore::SessionCore(const SessionOptions& options) : options_(options) {}

SessionCore::~SessionCore() {
  // Normally Close() ran already; this covers a session that was created but never mounted.
  if (session_ != nullptr && !mounted_) fuse_session_destroy(session_);
}

void SessionCore::Create(Napi::Env env) {
  fuse_lowlevel_ops operations = BuildOperations(options_.operations);
  std::vector<std::string> argvStrings = {"3fs-fuse"};
  std::string joined = JoinOptions(options_);
  if (!joined.empty()) {
    argvStrings.push_back("-o");
    argvStrings.push_back(joined);
  }
  if (options_.debug) argvStrings.push_back("-d");
  std::vector<char*> argv;
  for (auto& text : argvStrings) argv.push_back(text.data());
  argv.push_back(nullptr);
  struct fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argvStrings.size()), argv.data());
  LibfuseLogCapture capture;
  session_ = fuse_session_new(&args, &operations, sizeof(operations), this);
  fuse_opt_free_args(&args);
  if (session_ == nullptr) {
    std::string reason = capture.Text();
    js::ThrowWithCode(env, "ERR_FUSE_SESSION",
                      "libfuse refused the session options (" + joined + ")" + (reason.empty() ? "" : ": " + reason));
  }
}

void SessionCore::Mount(Napi::Env env, const std::string& mountpoint, Napi::Function dispatch) {
  if (mounted_ || closed_ || session_ == nullptr) {
    js::ThrowWithCode(env, "ERR_FUSE_STATE", "a session mounts once; create a new session to mount again");
  }
  std::set<int> descriptorsBefore;
  if (options_.autoUnmount) descriptorsBefore = OpenDescriptors();
  {
    LibfuseLogCapture capture;
    if (fuse_session_mount(session_, mountpoint.c_str()) != 0) {
      std::string reason = capture.Text();
      js::ThrowWithCode(env, "ERR_FUSE_MOUNT",
                        "mounting " + mountpoint + " failed: " + (reason.empty() ? "libfuse gave no reason" : reason));
    }
  }
  mounted_ = true;
  deviceFd_ = fuse_session_fd(session_);
  if (options_.autoUnmount) autoUnmountSocket_ = PinAutoUnmountSocket(descriptorsBefore, deviceFd_);
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  // Non-blocking reads let several workers wait on one descriptor: the loser of a race for a
  // request gets EAGAIN and goes back to epoll_wait, where it also sees the wake-up descriptor.
  int fdFlags = fcntl(deviceFd_, F_GETFL);
  if (wakeFd_ < 0 || fdFlags < 0 || fcntl(deviceFd_, F_SETFL, fdFlags | O_NONBLOCK) != 0) {
    int error = errno;
    Close();
    js::ThrowWithCode(env, "ERR_FUSE_MOUNT", std::string("preparing the FUSE device failed: ") + strerror(error));
  }
  env_ = env;
  // The thread-safe function holds a strong reference to this core until it is finalized, so its
  // context pointer can never dangle.
  auto* keepAlive = new std::shared_ptr<SessionCore>(shared_from_this());
  dispatcher_ = Dispatcher::New(env, dispatch, "fuse-requests", 0, 1, this,
                                [](Napi::Env, std::shared_ptr<SessionCore>* core, SessionCore*) {
                                  (*core)->DispatcherFinalized();
                                  delete core;
                                },
                                keepAlive);
  dispatcherCreated_ = true;
  // Registered after the thread-safe function, so it runs before that function's own cleanup
  // when the environment shuts down (hooks run in reverse order).
  if (napi_add_env_cleanup_hook(env, EnvironmentCleanup, this) == napi_ok) cleanupHookAdded_ = true;
  if (OnJsThread()) {
    StartPolling(env, dispatch);
    return;
  }
  try {
    StartWorkers();
  } catch (const std::exception& error) {
    Close();
    js::ThrowWithCode(env, "ERR_FUSE_MOUNT", std::string("starting FUSE worker threads failed: ") + error.what());
  }
}

// Reading on the JavaScript thread (threads == 0). A request read by a worker reaches JavaScript
// through the thread-safe function: a wake-up of the JavaScript thread per request on top of the
// worker's own, which costs about as much as a small request's handling. Here the device sits in
// the JavaScript thread's own event loop instead: when it is readable, this thread reads requests
// (the descriptor is non-blocking) and hands each to the dispatcher at once, inside one callback
// scope, so promise jobs run when the round ends. The in-flight bound cannot block this thread:
// at maxInflight the device leaves the loop until an answer frees a slot. Everything here runs on
// the JavaScript thread, the answers included, so none of it needs the workers' locks to wait.
namespace {
// Requests read per readiness event before the loop gets a turn (timers, sockets).
constexpr int kRequestsPerRound = 32;
}  // namespace

void SessionCore::StartPolling(Napi::Env env, Napi::Function dispatch) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Close();
    js::ThrowWithCode(env, "ERR_FUSE_MOUNT", "the JavaScript thread has no event loop to read the FUSE device in");
  }
  if (napi_async_init(env, nullptr, Napi::String::New(env, "fuse-requests"), &jsAsyncContext_) != napi_ok) {
    Close();
    js::ThrowWithCode(env, "ERR_FUSE_MOUNT", "creating the async context of FUSE requests failed");
  }
  jsDispatch_ = Napi::Persistent(dispatch);
  poll_ = new uv_poll_t;
  // The handle keeps the core alive until libuv has closed it (StopPolling).
  poll_->data = new std::shared_ptr<SessionCore>(shared_from_this());
  int failed = uv_poll_init(loop, poll_, deviceFd_);
  if (failed != 0) {
    delete static_cast<std::shared_ptr<SessionCore>*>(poll_->data);
    delete poll_;
    poll_ = nullptr;
  } else {
    failed = uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnDeviceReadable);
  }
  if (failed != 0) {
    Close();  // closes the handle, if it was made
    js::ThrowWithCode(env, "ERR_FUSE_MOUNT", std::string("polling the FUSE device failed: ") + uv_strerror(failed));
  }
}

void SessionCore::StopPolling() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) {
      delete static_cast<std::shared_ptr<SessionCore>*>(handle->data);
      delete reinterpret_cast<uv_poll_t*>(handle);
    });
    poll_ = nullptr;
  }
  pollPaused_ = false;
  // Requests read but not yet delivered (none outside ReadOnJsThread) stay pending and are
  // answered by AbortPending.
  jsQueue_.clear();
  std::free(jsBuffer_.mem);
  jsBuffer_.mem = nullptr;
  jsBuffer_.size = 0;
  // While the environment tears down, its handles go with it.
  if (jsAsyncContext_ != nullptr && env_ != nullptr && !environmentEnding_) napi_async_destroy(env_, jsAsyncContext_);
  jsAsyncContext_ = nullptr;
  if (!environmentEnding_) jsDispatch_.Reset();
}

void SessionCore::OnDeviceReadable(uv_poll_t* handle, int status, int events) {
  std::shared_ptr<SessionCore> core = *static_cast<std::shared_ptr<SessionCore>*>(handle->data);
  core->ReadOnJsThread(status, events);
}

void SessionCore::ResumePollingIfPaused() {
  if (!pollPaused_ || poll_ == nullptr || stopping_.load()) return;
  pollPaused_ = false;
  uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnDeviceReadable);
}

void SessionCore::ReadOnJsThread(int status, int events) {
  if (poll_ == nullptr || stopping_.load()) return;
  Napi::Env env(env_);
  Napi::HandleScope handles(env);
  bool disconnected = status < 0 || (events & UV_DISCONNECT) != 0;
  {
    // Promise jobs and next-tick callbacks of the handlers run when this scope closes.
    Napi::CallbackScope scope(env, jsAsyncContext_);
    Napi::Function dispatch = jsDispatch_.Value();
    tlReceive.buffer = &jsBuffer_;
    inReadRound_ = true;
    for (int round = 0; !disconnected && round < kRequestsPerRound; ++round) {
      {
        std::lock_guard<std::mutex> lock(slotMutex_);
        if (inflight_ >= options_.maxInflight) {
          uv_poll_stop(poll_);
          pollPaused_ = true;
          break;
        }
      }
      int received = fuse_session_receive_buf(session_, &jsBuffer_);
      if (received == -EAGAIN || received == -EINTR) break;
      if (received == 0) {  // libfuse saw ENODEV: the file system was unmounted
        disconnected = true;
        break;
      }
      if (received < 0) {
        LogError("receiving a FUSE request failed: %s", strerror(-received));
        break;
      }
      fuse_session_process_buf(session_, &jsBuffer_);
      if (tlReceive.taken) ReplaceTakenBuffer(jsBuffer_);
      std::vector<Request*> ready;
      ready.swap(jsQueue_);
      for (Request* request : ready) DeliverToJavaScript(env, dispatch, this, request);
      // A handler may have closed the session (and freed the buffer): read nothing more.
      if (poll_ == nullptr || closed_ || stopping_.load()) break;
      if (fuse_session_exited(session_)) disconnected = true;
    }
    tlReceive.buffer = nullptr;
    inReadRound_ = false;
    if (disconnected && poll_ != nullptr) {
      uv_poll_stop(poll_);
      if (!stopping_.load() && !endedReported_.exchange(true)) {
        auto event = std::make_unique<Request>();
        event->session = shared_from_this();
        event->op = Opcode::EndedEvent;
        DeliverToJavaScript(env, dispatch, this, event.release());
      }
    }
  }
}

void SessionCore::StartWorkers() {
  // Workers block every signal: signals belong to Node's main thread, and a signal landing in a
  // worker would only interrupt its poll.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  try {
    for (uint32_t i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerMain(); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

namespace {

/**
 * A worker's wait set: the device, exclusively (one worker wakes per request, not all of them),
 * and the wake-up descriptor, shared (every worker wakes to stop). Returns -1 on failure.
 */
int CreateWaitSet(int deviceFd, int wakeFd) {
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return -1;
  struct epoll_event device {};
  device.events = EPOLLIN | EPOLLEXCLUSIVE;
  device.data.fd = deviceFd;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, deviceFd, &device) != 0) {
    device.events = EPOLLIN;  // kernels before 4.5: every worker wakes, one wins the read
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, deviceFd, &device) != 0) {
      close(epoll);
      return -1;
    }
  }
  struct epoll_event wake {};
  wake.events = EPOLLIN;
  wake.data.fd = wakeFd;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFd, &wake) != 0) {
    close(epoll);
    return -1;
  }
  return epoll;
}

}  // namespace

void SessionCore::WorkerMain() {
  struct fuse_buf buffer;
  std::memset(&buffer, 0, sizeof(buffer));
  tlReceive.buffer = &buffer;
  bool disconnected = false;
  int waitSet = CreateWaitSet(deviceFd_, wakeFd_);
  if (waitSet < 0) {
    LogError("creating a FUSE worker's epoll set failed: %s", strerror(errno));
    disconnected = true;
  }
  while (waitSet >= 0 && !stopping_.load(std::memory_order_acquire)) {
    struct epoll_event events[2];
    int ready = epoll_wait(waitSet, events, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      LogError("waiting on the FUSE device failed: %s", strerror(errno));
      disconnected = true;
      break;
    }
    bool wake = false;
    bool readable = false;
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.fd == wakeFd_) wake = true;
      // EPOLLERR: the kernel aborted the connection (unmounted, or aborted through sysfs).
      else if ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0) disconnected = true;
      else if ((events[i].events & EPOLLIN) != 0) readable = true;
    }
    if (wake || disconnected) break;
    if (!readable) continue;
    int received = fuse_session_receive_buf(session_, &buffer);
    if (received == -EAGAIN || received == -EINTR) continue;
    if (received == 0) {  // libfuse saw ENODEV: the file system was unmounted
      disconnected = true;
      break;
    }
    if (received < 0) {
      LogError("receiving a FUSE request failed: %s", strerror(-received));
      std::this_thread::sleep_for(kReceiveErrorPause);
      continue;
    }
    fuse_session_process_buf(session_, &buffer);
    // A write took the buffer with its payload; the next receive needs another.
    if (tlReceive.taken) ReplaceTakenBuffer(buffer);
    // libfuse ends the session itself when it refuses INIT; the kernel then sends nothing more.
    if (fuse_session_exited(session_) && !stopping_.load()) {
      disconnected = true;
      break;
    }
  }
  if (waitSet >= 0) close(waitSet);
  tlReceive.buffer = nullptr;
  std::free(buffer.mem);
  if (disconnected && !stopping_.load() && !endedReported_.exchange(true)) {
    auto event = std::make_unique<Request>();
    event->session = shared_from_this();
    event->op = Opcode::EndedEvent;
    PostEvent(std::move(event));
  }
}

bool SessionCore::TakeReceiveBuffer(const char* payload, size_t length, OwnedBytes* out) {
  struct fuse_buf* buffer = tlReceive.buffer;
  if (buffer == nullptr || buffer->mem == nullptr || (buffer->flags & FUSE_BUF_IS_FD) != 0) return false;
  const char* base = static_cast<const char*>(buffer->mem);
  if (payload < base || payload + length > base + buffer->size) return false;
  // Keeping a whole receive buffer (max_write + header) alive only pays for large payloads;
  // smaller ones are cheaper to copy than to pin a mostly empty buffer for.
  uint32_t maxWrite = negotiatedMaxWrite_.load(std::memory_order_relaxed);
  if (maxWrite == 0 || length < maxWrite / 2) return false;
  out->base = static_cast<char*>(buffer->mem);
  out->data = const_cast<char*>(payload);
  out->length = length;
  out->allocation = static_cast<size_t>(maxWrite) + kReceiveHeaderBytes;
  tlReceive.taken = true;
  tlReceive.takenAllocation = out->allocation;
  out->receiveBuffer = true;
  return true;
}

bool SessionCore::AcquireSlot() {
  std::unique_lock<std::mutex> lock(slotMutex_);
  slotFreed_.wait(lock, [this] { return inflight_ < options_.maxInflight || stopping_.load(); });
  if (stopping_.load()) return false;
  ++inflight_;
  return true;
}

void SessionCore::ReleaseSlot() {
  {
    std::lock_guard<std::mutex> lock(slotMutex_);
    --inflight_;
  }
  if (OnJsThread()) {
    ResumePollingIfPaused();
    return;
  }
  slotFreed_.notify_one();
}

void SessionCore::Dispatch(std::unique_ptr<Request> request, bool unlimited) {
  fuse_req_t req = request->req;
  Opcode op = request->op;
  if (!unlimited && OnJsThread()) {
    // ReadOnJsThread only reads while a slot is free.
    std::lock_guard<std::mutex> lock(slotMutex_);
    ++inflight_;
    request->holdsSlot = true;
  } else if (!unlimited) {
    if (!AcquireSlot()) {
      ReplyRefusal(req, op, EIO);  // stopping: the session is going away
      return;
    }
    request->holdsSlot = true;
  }
  request->id = NextRequestId();
  Request* raw = request.get();
  try {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    pending_.emplace(req, raw);
  } catch (...) {
    if (raw->holdsSlot) ReleaseSlot();
    ReplyRefusal(req, op, ENOMEM);
    return;
  }
  // Blocking lock requests wait on other processes, possibly forever: let the kernel's
  // interrupt (a signal to the waiting process) reach JavaScript so it can give up.
  if (unlimited) fuse_req_interrupt_func(req, [](fuse_req_t r, void* core) { static_cast<SessionCore*>(core)->Interrupt(r); }, this);
  if (OnJsThread()) {
    if (op == Opcode::Read && fastReads_ != nullptr && fastReads_->Start(raw)) {
      request.release();  // the fast path owns it now, and answers it or hands it back
      return;
    }
    jsQueue_.push_back(request.release());  // delivered by ReadOnJsThread after processing
    return;
  }
  if (dispatcher_.NonBlockingCall(raw) == napi_ok) {
    request.release();  // the dispatcher owns it now
    return;
  }
  // The thread-safe function is closing: answer here rather than leave the caller waiting.
  {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    pending_.erase(req);
  }
  if (unlimited) fuse_req_interrupt_func(req, nullptr, nullptr);
  if (raw->holdsSlot) ReleaseSlot();
  ReplyRefusal(req, op, EIO);
}

void SessionCore::PostEvent(std::unique_ptr<Request> event) {
  if (stopping_.load()) return;
  if (OnJsThread()) {
    jsQueue_.push_back(event.release());
    return;
  }
  if (dispatcher_.NonBlockingCall(event.get()) == napi_ok) event.release();
}

void SessionCore::Interrupt(fuse_req_t req) {
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    auto found = pending_.find(req);
    if (found == pending_.end()) return;  // answered already
    found->second->interrupted.store(true);
    id = found->second->id;
  }
  auto event = std::make_unique<Request>();
  event->session = shared_from_this();
  event->op = Opcode::InterruptEvent;
  event->id = id;
  PostEvent(std::move(event));
}

void SessionCore::Negotiate(struct fuse_conn_info* connection) {
  const SessionOptions& o = options_;
  if (o.maxWriteBytes != 0 && o.maxWriteBytes < connection->max_write) connection->max_write = o.maxWriteBytes;
  if (o.maxReadaheadBytes != 0 && o.maxReadaheadBytes < connection->max_readahead) {
    connection->max_readahead = o.maxReadaheadBytes;
  }
  // libfuse requires init to agree with the max_read mount option (it refuses the session otherwise).
  if (o.maxReadBytes != 0) connection->max_read = o.maxReadBytes;
  if (o.maxBackground != 0) connection->max_background = o.maxBackground;
  if (o.congestionThreshold != 0) connection->congestion_threshold = o.congestionThreshold;
  auto choose = [connection](unsigned capability, bool on) {
    if (on) {
      connection->want |= capability & connection->capable;
    } else {
      connection->want &= ~capability;
    }
  };
  choose(FUSE_CAP_ASYNC_READ, o.asyncRead);
  choose(FUSE_CAP_PARALLEL_DIROPS, o.parallelDirops);
  choose(FUSE_CAP_ATOMIC_O_TRUNC, o.atomicOTrunc);
  choose(FUSE_CAP_WRITEBACK_CACHE, o.writebackCache);
  choose(FUSE_CAP_CACHE_SYMLINKS, o.cacheSymlinks);
  // libfuse turns splice reading on whenever write_buf exists; splicing costs two extra
  // syscalls per request and only saves a copy for large writes, so it is opt-in.
  if (!o.spliceRead) connection->want &= ~FUSE_CAP_SPLICE_READ;
  // Replies are sent from JavaScript's memory with writev; splicing them out is not used.
  connection->want &= ~(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // Without this the kernel itself clears setuid/setgid bits on write and chown, which is what a
  // file system that does not implement that rule needs.
  connection->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  // libfuse enables lock forwarding whenever the handlers exist; the options can keep locks local.
  if (!o.posixLocks) connection->want &= ~FUSE_CAP_POSIX_LOCKS;
  if (!o.flockLocks) connection->want &= ~FUSE_CAP_FLOCK_LOCKS;
  // POSIX ACLs: the kernel reads them through getxattr, caches them and checks them (it turns
  // default_permissions on). The file system keeps the mode in step and makes new inodes inherit
  // a directory's default ACL, which replaces the umask: so the kernel must pass create modes
  // unmasked, with the umask beside them (DONT_MASK), for the file system to apply when no
  // default ACL does.
  choose(FUSE_CAP_POSIX_ACL, o.posixAcl);
  choose(FUSE_CAP_DONT_MASK, o.posixAcl);
  if (o.readdirplus == 0) connection->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  if (o.readdirplus == 2) connection->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // Asking for a capability the kernel lacks makes libfuse abort the connection.
  connection->want &= connection->capable;
  negotiatedMaxWrite_.store(connection->max_write);

  auto event = std::make_unique<Request>();
  event->session = shared_from_this();
  event->op = Opcode::InitEvent;
  event->connection = std::make_unique<ConnectionReport>();
  ConnectionReport& report = *event->connection;
  report.protoMajor = connection->proto_major;
  report.protoMinor = connection->proto_minor;
  report.capable = connection->capable;
  report.want = connection->want;
  // libfuse before 3.17 accepts FUSE_CAP_PARALLEL_DIROPS but never passes it to the kernel, which
  // then serializes lookups and readdirs per directory: report what the kernel actually got.
  if (fuse_version() < 317) report.want &= ~FUSE_CAP_PARALLEL_DIROPS;
  report.maxWrite = connection->max_write;
  report.maxRead = connection->max_read;
  report.maxReadahead = connection->max_readahead;
  report.maxBackground = connection->max_background;
  report.congestionThreshold = connection->congestion_threshold;
  report.timeGranularity = connection->time_gran;
  PostEvent(std::move(event));
}

size_t SessionCore::PendingCount() {
  std::lock_guard<std::mutex> lock(pendingMutex_);
  return pending_.size();
}

void SessionCore::Complete(Request& request) {
  if (request.req != nullptr) {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    pending_.erase(request.req);
  }
  request.req = nullptr;
  if (request.holdsSlot) {
    request.holdsSlot = false;
    ReleaseSlot();
  }
}

void SessionCore::AnswerWithError(Request& request, int error) {
  fuse_req_t req = request.req;
  if (req == nullptr) return;
  // Removed from the pending table before the reply frees the fuse_req_t: libfuse may reuse its
  // address for the next request at once.
  Complete(request);
  request.state = RequestState::Answered;
  ReplyRefusal(req, request.op, error);
}

void SessionCore::StopWorkers() {
  stopping_.store(true);
  {
    std::lock_guard<std::mutex> lock(slotMutex_);  // no worker may miss the wake-up below
  }
  slotFreed_.notify_all();
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    ssize_t written = write(wakeFd_, &one, sizeof(one));
    (void)written;  // an eventfd write only fails when the counter would overflow
  }
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
  StopPolling();
}

void SessionCore::AbortPending() {
  std::vector<Request*> victims;
  {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    for (auto& entry : pending_) victims.push_back(entry.second);
    pending_.clear();
  }
  for (Request* request : victims) {
    fuse_req_t req = request->req;
    request->req = nullptr;
    request->state = RequestState::Aborted;
    if (request->holdsSlot) {
      request->holdsSlot = false;
      ReleaseSlot();
    }
    ReplyRefusal(req, request->op, EIO);
  }
}

void SessionCore::RefuseUntilNotifiesDrain() {
  const int fd = fuse_session_fd(session_);
  const uint32_t maxWrite = negotiatedMaxWrite_.load(std::memory_order_relaxed);
  if (fd < 0 || maxWrite == 0) return;
  // The kernel reads a request only into room for its largest write.
  std::vector<char> buffer(static_cast<size_t>(maxWrite) + kReceiveHeaderBytes);
  const auto deadline = std::chrono::steady_clock::now() + kNotifyDrainTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(notifyMutex_);
      if (notifiesActive_ == 0) return;
    }
    struct pollfd device = {fd, POLLIN, 0};
    if (poll(&device, 1, 20) < 0 && errno != EINTR) return;
    if ((device.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return;  // the connection is gone
    if ((device.revents & POLLIN) == 0) continue;
    ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == ENODEV) return;
    if (got < static_cast<ssize_t>(sizeof(struct fuse_in_header))) continue;
    struct fuse_in_header in;
    std::memcpy(&in, buffer.data(), sizeof(in));
    // These are never answered.
    if (in.opcode == FUSE_FORGET || in.opcode == FUSE_BATCH_FORGET || in.opcode == FUSE_INTERRUPT) continue;
    struct fuse_out_header out;
    out.len = sizeof(out);
    out.error = -EIO;
    out.unique = in.unique;
    ssize_t written = write(fd, &out, sizeof(out));
    (void)written;  // the request may have been interrupted meanwhile: nothing to do then
  }
}

bool SessionCore::BeginNotify() {
  std::lock_guard<std::mutex> lock(notifyMutex_);
  if (notifyClosed_ || !mounted_ || session_ == nullptr) return false;
  ++notifiesActive_;
  return true;
}

void SessionCore::EndNotify() {
  {
    std::lock_guard<std::mutex> lock(notifyMutex_);
    --notifiesActive_;
  }
  notifyDone_.notify_all();
}

FastReads* SessionCore::EnableFastReads(Napi::Env env, const FastReadOptions& options) {
  if (!OnJsThread() || closed_) return nullptr;
  if (fastReads_ == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return nullptr;
    fastReads_ = std::make_unique<FastReads>(this, loop, options);
  }
  return fastReads_.get();
}

void SessionCore::DeliverFromLoop(Request* request) {
  if (inReadRound_) {
    jsQueue_.push_back(request);  // ReadOnJsThread delivers it after the request it is processing
    return;
  }
  if (env_ == nullptr || environmentEnding_ || jsDispatch_.IsEmpty()) {
    std::unique_ptr<Request> owned(request);
    if (owned->req != nullptr) AnswerWithError(*owned, EIO);
    return;
  }
  Napi::Env env(env_);
  Napi::HandleScope handles(env);
  Napi::CallbackScope scope(env, jsAsyncContext_);
  DeliverToJavaScript(env, jsDispatch_.Value(), this, request);
}

void SessionCore::Close() {
  if (closed_) return;
  closed_ = true;
  StopWorkers();
  if (fastReads_ != nullptr) fastReads_->Shutdown();
  AbortPending();
  {
    std::lock_guard<std::mutex> lock(notifyMutex_);
    notifyClosed_ = true;
  }
  if (session_ != nullptr) {
    fuse_session_exit(session_);  // later failed writes to the device stay quiet
    // A notification may wait for an inode lock held by a process whose request reached the kernel
    // after reading stopped (an `rm -rf` inside the mount, say): answered by no one, that request
    // would hold the lock, and the notification its thread, for ever. Unmounting cannot break
    // this, as the notification's write keeps the device open; answering the request does.
    RefuseUntilNotifiesDrain();
    // Unmounting closes the device: the kernel fails whatever it still holds with ENOTCONN.
    if (mounted_) fuse_session_unmount(session_);
    bool idle = false;
    {
      std::unique_lock<std::mutex> lock(notifyMutex_);
      idle = notifyDone_.wait_for(lock, kNotifyDrainTimeout, [this] { return notifiesActive_ == 0; });
    }
    if (idle) {
      fuse_session_destroy(session_);
    } else {
      // A thread is still inside libfuse with this session: leaking it is the safe choice.
      LogError("a cache notification did not finish; the libfuse session is left allocated");
    }
    session_ = nullptr;
  }
  mounted_ = false;
  if (autoUnmountSocket_ >= 0) {
    close(autoUnmountSocket_);
    autoUnmountSocket_ = -1;
  }
  if (wakeFd_ >= 0) {
    close(wakeFd_);
    wakeFd_ = -1;
  }
  ReleaseDispatcher();
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, EnvironmentCleanup, this);
    cleanupHookAdded_ = false;
  }
}

void SessionCore::ReleaseDispatcher() {
  if (dispatcherCreated_ && !dispatcherFinalized_.load()) dispatcher_.Release();
  dispatcherCreated_ = false;
}

void SessionCore::EnvironmentCleanup(void* core) {
  // The environment is shutting down (process exit, worker termination) with the session still
  // mounted: answer, unmount and free now, while the thread-safe function still exists.
  auto* session = static_cast<SessionCore*>(core);
  session->cleanupHookAdded_ = false;
  session->environmentEnding_ = true;
  session->Close();
}

// A FLUSH asks the file system to push what was written through a handle and to drop the closing
// process's POSIX locks. The daemon's flush has nothing to do for a handle of an inode that
// nothing was written to, allocated, truncated or locked through since it was opened: close(2) of
// a file only created or read. Such a FLUSH is answered by the worker that received it. Every
// request that could give a flush something to do marks the inode first, on the worker that
// received it, before JavaScript sees the request; a FLUSH the kernel sends after it finds the
// mark. The handle is registered before the OPEN or CREATE reply leaves, so no request can name
// it earlier. Marks last until the inode's last handle here is released.
void SessionCore::FileOpened(uint64_t fh, fuse_ino_t ino) {
  if (!options_.flushOnlyTouched) return;
  std::lock_guard<std::mutex> guard(flushLock_);
  if (!openFiles_.emplace(fh, ino).second) return;
  openInodes_[ino].handles += 1;
}

void SessionCore::FileTouched(fuse_ino_t ino) {
  if (!options_.flushOnlyTouched) return;
  std::lock_guard<std::mutex> guard(flushLock_);
  auto found = openInodes_.find(ino);
  if (found != openInodes_.end()) found->second.touched = true;
}

void SessionCore::ServeListing(uint64_t fh, std::vector<uint8_t> bytes, std::vector<uint32_t> starts,
                               uint64_t firstOffset) {
  auto listing = std::make_shared<ServedListing>();
  listing->bytes = std::move(bytes);
  listing->starts = std::move(starts);
  listing->firstOffset = firstOffset;
  std::lock_guard<std::mutex> guard(listingsLock_);
  listings_[fh] = std::move(listing);
}

void SessionCore::DropListing(uint64_t fh) {
  std::lock_guard<std::mutex> guard(listingsLock_);
  listings_.erase(fh);
}

bool SessionCore::AnswerReaddir(fuse_req_t req, uint64_t fh, size_t size, uint64_t offset) {
  std::shared_ptr<const ServedListing> listing;
  {
    std::lock_guard<std::mutex> guard(listingsLock_);
    auto found = listings_.find(fh);
    if (found == listings_.end()) return false;
    listing = found->second;
  }
  // Offsets up to firstOffset - 1 belong to "." and ".." (JavaScript writes those); record i
  // resumes at firstOffset + i, so a readdir at `offset` continues with record offset -
  // firstOffset + 1.
  if (offset + 1 < listing->firstOffset) return false;
  const size_t count = listing->starts.size() - 1;
  const uint64_t next = offset + 1 - listing->firstOffset;
  const size_t from = next >= count ? count : static_cast<size_t>(next);
  // The last record boundary within `size` bytes (starts only grow).
  size_t low = from, high = count;
  while (low < high) {
    const size_t middle = (low + high + 1) / 2;
    if (listing->starts[middle] - listing->starts[from] <= size) low = middle;
    else high = middle - 1;
  }
  // A record larger than the kernel's buffer: JavaScript answers as it always has.
  if (low == from && from < count) return false;
  const uint32_t begin = listing->starts[from];
  const uint32_t end = listing->starts[low];
  readdirsAnswered_.fetch_add(1, std::memory_order_relaxed);
  fuse_reply_buf(req, reinterpret_cast<const char*>(listing->bytes.data()) + begin, end - begin);
  return true;
}

bool SessionCore::FlushNeedsNothing(uint64_t fh, fuse_ino_t ino) {
  if (!options_.flushOnlyTouched) return false;
  std::lock_guard<std::mutex> guard(flushLock_);
  auto file = openFiles_.find(fh);
  if (file == openFiles_.end() || file->second != ino) return false;
  auto inode = openInodes_.find(ino);
  if (inode == openInodes_.end() || inode->second.touched) return false;
  flushesAnswered_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void SessionCore::FileReleased(uint64_t fh) {
  if (!options_.flushOnlyTouched) return;
  std::lock_guard<std::mutex> guard(flushLock_);
  auto file = openFiles_.find(fh);
  if (file == openFiles_.end()) return;
  auto inode = openInodes_.find(file->second);
  openFiles_.erase(file);
  if (inode != openInodes_.end() && --inode->second.handles == 0) openInodes_.erase(inode);
}

}  // namespace fusebinding
