// Reads issued from the JavaScript thread through io_uring, completed on it.
//
// A small read through the engine's thread pool pays two thread hand-offs (the worker's wake-up,
// then the completion's wake-up of the event loop) for a disk read that takes less time than
// both. Through the ring, the event loop submits the read itself; a read of cached pages completes
// inside the submission, and a read that waits for the disk completes in the kernel, which wakes
// the loop once, through an eventfd the loop polls. No thread of ours takes part.
//
// Everything here runs on the loop's thread: submission, reaping and the callbacks. The ring is
// optional: where the kernel has no io_uring, or refuses it (`kernel.io_uring_disabled`, a
// container's seccomp filter), Open says why and the engine's thread pool does the reads.
#pragma once

#include <linux/io_uring.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace chunk_engine {

class ReadRing;
class RingOp;

/** One read of `length` bytes at `position` of `fd` into `data`. */
struct RingRead {
  int fd = -1;
  uint64_t position = 0;
  uint8_t* data = nullptr;
  size_t length = 0;
  size_t done = 0;  // bytes in so far (a short read is submitted again for the rest)
  unsigned resubmits = 0;  // interrupted or short completions so far (bounded: kResubmitsMax)
  RingOp* op = nullptr;  // set by Submit
};

/** A group of reads that finishes as one: Finished runs once, after the last of them. */
class RingOp {
 public:
  virtual ~RingOp() = default;
  std::vector<RingRead> reads;
  /** 0, or the first error (an errno) any read met. */
  virtual void Finished(int error) = 0;

 private:
  friend class ReadRing;
  size_t outstanding_ = 0;
  int error_ = 0;
};

class ReadRing : public std::enable_shared_from_this<ReadRing> {
 public:
  /** A ring of `entries` submissions polled on `loop`; null (and `why`) where there is none. */
  static std::shared_ptr<ReadRing> Open(uv_loop_t* loop, unsigned entries, std::string* why);
  ~ReadRing();
  ReadRing(const ReadRing&) = delete;
  ReadRing& operator=(const ReadRing&) = delete;

  /**
   * Starts every read of `op` (which the ring owns until Finished, and then deletes). False, with
   * nothing started and `op` still the caller's, when the ring has no room for them or is closed.
   * Reads that complete at once (cached pages) are reaped before this returns, so Finished may
   * have run already.
   */
  bool Submit(RingOp* op);
  /** Stops accepting reads; the ring closes when the last one in flight has finished. */
  void Close();
  /**
   * What reaping woken by the eventfd runs inside (the addon's callback scope, so promises settled
   * there run their continuations when it ends).
   */
  void SetAround(std::function<void(const std::function<void()>&)> around) { around_ = std::move(around); }
  /** False once closed, or after the kernel refused a submission (the thread pool then reads). */
  bool usable() const { return !closing_; }

 private:
  ReadRing() = default;
  void Push(RingRead* read);
  /** Hands pushed entries to the kernel; on failure takes back those it did not take (`untaken`). */
  bool Enter(unsigned* untaken);
  void Reap();
  void Drain();
  void HoldLoop();
  void Complete(RingOp* op, int error);
  void MaybeRelease();
  static void OnReadable(uv_poll_t* handle, int status, int events);

  int ringFd_ = -1;
  int eventFd_ = -1;
  uv_poll_t* poll_ = nullptr;
  // The shared rings (mapped from the kernel).
  void* sqMap_ = nullptr;
  size_t sqMapBytes_ = 0;
  void* cqMap_ = nullptr;
  size_t cqMapBytes_ = 0;
  void* sqesMap_ = nullptr;
  size_t sqesMapBytes_ = 0;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned sqEntries_ = 0;
  unsigned* sqArray_ = nullptr;
  ::io_uring_sqe* sqes_ = nullptr;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned cqMask_ = 0;
  unsigned cqEntries_ = 0;
  ::io_uring_cqe* cqes_ = nullptr;
  unsigned toSubmit_ = 0;
  // Reads submitted and not yet reaped, at most cqEntries_ (so completions never overflow).
  size_t inFlight_ = 0;
  bool closing_ = false;
  std::function<void(const std::function<void()>&)> around_;
  // Held while reads are in flight or the ring is open, so a completion never outlives the ring.
  std::shared_ptr<ReadRing> self_;
};

}  // namespace chunk_engine
