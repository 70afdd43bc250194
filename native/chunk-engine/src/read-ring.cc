#include "read-ring.h"

#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace chunk_engine {
namespace {

int Setup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, params));
}

int EnterRing(int fd, unsigned toSubmit) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, toSubmit, 0, 0, nullptr, 0));
}

int Register(int fd, unsigned opcode, const void* argument, unsigned count) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, argument, count));
}

// The kernel reads the submission tail and writes the completion tail concurrently with us.
unsigned LoadAcquire(const unsigned* at) {
  return reinterpret_cast<const std::atomic<unsigned>*>(at)->load(std::memory_order_acquire);
}
void StoreRelease(unsigned* at, unsigned value) {
  reinterpret_cast<std::atomic<unsigned>*>(at)->store(value, std::memory_order_release);
}

// Times one read is submitted again after an interrupted or short completion before it fails: a
// file that keeps answering short must not keep the loop busy for ever.
constexpr unsigned kResubmitsMax = 16;

void* Map(int fd, size_t bytes, off_t what) {
  void* at = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, what);
  return at == MAP_FAILED ? nullptr : at;
}

}  // namespace

std::shared_ptr<ReadRing> ReadRing::Open(uv_loop_t* loop, unsigned entries, std::string* why) {
  std::shared_ptr<ReadRing> ring(new ReadRing());
  io_uring_params params;
  std::memset(&params, 0, sizeof params);
  ring->ringFd_ = Setup(entries, &params);
  if (ring->ringFd_ < 0) {
    *why = std::string("io_uring_setup: ") + std::strerror(errno);
    return nullptr;
  }
  // Without NODROP a completion could be lost when the completion ring is full; we never let it
  // fill, but a kernel that old also lacks what the rest of this relies on.
  if ((params.features & IORING_FEAT_NODROP) == 0) {
    *why = "io_uring without IORING_FEAT_NODROP (Linux 5.5)";
    return nullptr;
  }
  ring->sqMapBytes_ = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  ring->cqMapBytes_ = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
  const bool single = (params.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) ring->sqMapBytes_ = ring->cqMapBytes_ = std::max(ring->sqMapBytes_, ring->cqMapBytes_);
  ring->sqMap_ = Map(ring->ringFd_, ring->sqMapBytes_, IORING_OFF_SQ_RING);
  if (ring->sqMap_ == nullptr) {
    *why = std::string("mapping the submission ring: ") + std::strerror(errno);
    return nullptr;
  }
  if (single) {
    ring->cqMap_ = ring->sqMap_;
  } else {
    ring->cqMap_ = Map(ring->ringFd_, ring->cqMapBytes_, IORING_OFF_CQ_RING);
    if (ring->cqMap_ == nullptr) {
      *why = std::string("mapping the completion ring: ") + std::strerror(errno);
      return nullptr;
    }
  }
  ring->sqesMapBytes_ = params.sq_entries * sizeof(io_uring_sqe);
  ring->sqesMap_ = Map(ring->ringFd_, ring->sqesMapBytes_, IORING_OFF_SQES);
  if (ring->sqesMap_ == nullptr) {
    *why = std::string("mapping the submission entries: ") + std::strerror(errno);
    return nullptr;
  }
  auto* sq = static_cast<uint8_t*>(ring->sqMap_);
  auto* cq = static_cast<uint8_t*>(ring->cqMap_);
  ring->sqHead_ = reinterpret_cast<unsigned*>(sq + params.sq_off.head);
  ring->sqTail_ = reinterpret_cast<unsigned*>(sq + params.sq_off.tail);
  ring->sqMask_ = *reinterpret_cast<unsigned*>(sq + params.sq_off.ring_mask);
  ring->sqEntries_ = params.sq_entries;
  ring->sqArray_ = reinterpret_cast<unsigned*>(sq + params.sq_off.array);
  ring->sqes_ = static_cast<io_uring_sqe*>(ring->sqesMap_);
  ring->cqHead_ = reinterpret_cast<unsigned*>(cq + params.cq_off.head);
  ring->cqTail_ = reinterpret_cast<unsigned*>(cq + params.cq_off.tail);
  ring->cqMask_ = *reinterpret_cast<unsigned*>(cq + params.cq_off.ring_mask);
  ring->cqEntries_ = params.cq_entries;
  ring->cqes_ = reinterpret_cast<io_uring_cqe*>(cq + params.cq_off.cqes);

  ring->eventFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ring->eventFd_ < 0) {
    *why = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  // Every completion signals the eventfd (the "async only" variant leaves out those the kernel
  // completes in this thread's task work, which is how buffered reads that waited for the disk
  // end); Submit drains the signals of what it reaps itself.
  if (Register(ring->ringFd_, IORING_REGISTER_EVENTFD, &ring->eventFd_, 1) != 0) {
    *why = std::string("registering the eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  ring->poll_ = new uv_poll_t;
  if (uv_poll_init(loop, ring->poll_, ring->eventFd_) != 0) {
    delete ring->poll_;
    ring->poll_ = nullptr;
    *why = "polling the eventfd";
    return nullptr;
  }
  ring->poll_->data = ring.get();
  uv_poll_start(ring->poll_, UV_READABLE, &ReadRing::OnReadable);
  // A ring waiting for nothing does not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(ring->poll_));
  ring->self_ = ring;
  return ring;
}

ReadRing::~ReadRing() {
  if (poll_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  if (sqesMap_ != nullptr) munmap(sqesMap_, sqesMapBytes_);
  if (cqMap_ != nullptr && cqMap_ != sqMap_) munmap(cqMap_, cqMapBytes_);
  if (sqMap_ != nullptr) munmap(sqMap_, sqMapBytes_);
  if (eventFd_ >= 0) ::close(eventFd_);
  if (ringFd_ >= 0) ::close(ringFd_);
}

bool ReadRing::Submit(RingOp* op) {
  size_t reads = 0;
  for (const RingRead& read : op->reads) reads += read.length > 0 ? 1 : 0;
  if (closing_ || reads > sqEntries_ || inFlight_ + reads > cqEntries_) return false;
  op->outstanding_ = 0;
  op->error_ = 0;
  for (RingRead& read : op->reads) {
    if (read.length == 0) continue;
    read.op = op;
    op->outstanding_++;
    Push(&read);
  }
  if (op->outstanding_ == 0) {
    Complete(op, 0);
    return true;
  }
  unsigned untaken = 0;
  if (!Enter(&untaken)) {
    const int error = errno;
    // A kernel that refuses a submission is not asked again: the thread pool reads from now on.
    closing_ = true;
    inFlight_ -= untaken;
    op->outstanding_ -= untaken;
    // Nothing started: the op is still the caller's, to read another way.
    if (op->outstanding_ == 0) {
      MaybeRelease();
      return false;
    }
    op->error_ = error;
  }
  // Reads the page cache answered completed inside the submission: reap them now, and take back
  // their eventfd signals first, so the loop is not woken for them (a completion after the drain
  // signals again and is reaped then).
  Drain();
  Reap();
  HoldLoop();
  return true;
}

void ReadRing::Drain() {
  uint64_t count = 0;
  while (read(eventFd_, &count, sizeof count) > 0) {
  }
}

void ReadRing::HoldLoop() {
  // The poll keeps the process alive only while reads are in flight.
  if (poll_ == nullptr) return;
  if (inFlight_ > 0) {
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }
}

void ReadRing::Push(RingRead* read) {
  const unsigned tail = *sqTail_;
  const unsigned index = tail & sqMask_;
  io_uring_sqe* sqe = &sqes_[index];
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_READ;
  sqe->fd = read->fd;
  sqe->off = read->position + read->done;
  sqe->addr = reinterpret_cast<uint64_t>(read->data + read->done);
  sqe->len = static_cast<uint32_t>(read->length - read->done);
  sqe->user_data = reinterpret_cast<uint64_t>(read);
  sqArray_[index] = index;
  StoreRelease(sqTail_, tail + 1);
  toSubmit_++;
  inFlight_++;
}

bool ReadRing::Enter(unsigned* untaken) {
  while (toSubmit_ > 0) {
    const int taken = EnterRing(ringFd_, toSubmit_);
    if (taken > 0) {
      toSubmit_ -= static_cast<unsigned>(taken);
      continue;
    }
    // Taking none without an error would have this loop spin: count it as a refusal.
    if (taken == 0) errno = EAGAIN;
    else if (errno == EINTR) continue;
    // The entries the kernel did not take come off the ring again.
    const int error = errno;
    *untaken = toSubmit_;
    StoreRelease(sqTail_, *sqTail_ - toSubmit_);
    toSubmit_ = 0;
    errno = error;
    return false;
  }
  return true;
}

void ReadRing::Reap() {
  // One completion at a time, the head read afresh each time: a completion's callback may submit
  // and reap again before this loop goes on.
  for (;;) {
    const unsigned head = *cqHead_;
    if (head == LoadAcquire(cqTail_)) return;
    const io_uring_cqe cqe = cqes_[head & cqMask_];
    StoreRelease(cqHead_, head + 1);
    inFlight_--;
    auto* read = reinterpret_cast<RingRead*>(cqe.user_data);
    RingOp* op = read->op;
    int error = 0;
    if (cqe.res < 0) {
      error = -cqe.res;
    } else if (cqe.res == 0) {
      error = EIO;  // the file ends before the block it holds
    } else {
      read->done += static_cast<size_t>(cqe.res);
    }
    const bool again = error == EINTR || error == EAGAIN || (error == 0 && read->done < read->length);
    if (again && read->resubmits >= kResubmitsMax) {
      if (error == 0) error = EIO;  // short every time: the file ends before the block it holds
    } else if (again) {
      // Interrupted, or short: the rest goes again.
      read->resubmits++;
      Push(read);
      unsigned untaken = 0;
      if (Enter(&untaken)) continue;
      error = errno;
      inFlight_ -= untaken;
      closing_ = true;
    }
    if (error != 0 && op->error_ == 0) op->error_ = error;
    if (--op->outstanding_ == 0) Complete(op, op->error_);
  }
}

void ReadRing::Complete(RingOp* op, int error) {
  op->Finished(error);
  delete op;
  MaybeRelease();
}

void ReadRing::Close() {
  closing_ = true;
  MaybeRelease();
}

void ReadRing::MaybeRelease() {
  if (closing_ && inFlight_ == 0 && self_) {
    // The last reference may be this one: release it last.
    std::shared_ptr<ReadRing> keep = std::move(self_);
  }
}

void ReadRing::OnReadable(uv_poll_t* handle, int status, int) {
  auto* ring = static_cast<ReadRing*>(handle->data);
  if (ring == nullptr) return;
  (void)status;
  ring->Drain();
  // Completions may delete the last reference to the ring: hold one until reaping is done.
  std::shared_ptr<ReadRing> keep = ring->shared_from_this();
  if (ring->around_) {
    ring->around_([&ring] { ring->Reap(); });
  } else {
    ring->Reap();
  }
  ring->HoldLoop();
}

}  // namespace chunk_engine
