// Receive buffers of large writes, kept for the next receive instead of freed.
//
// A large WRITE takes over the receive buffer libfuse read it into (operations.cc), and the next
// receive needs another. Freshly allocated, that buffer's pages are faulted in and zeroed by the
// kernel while it copies the request into them, and freeing it (an mmap of over a megabyte) flushes
// the TLB of every CPU running one of the process's threads. A handful of buffers are kept here:
// the finalizer of the JavaScript Buffer that held a write's payload gives its buffer back, and the
// receive loops take one before libfuse would allocate.
#pragma once

#include <cstddef>

namespace fusebinding {

/** The most buffers kept (each max_write plus header bytes, a megabyte by default). */
constexpr size_t kReceivePoolBuffersMax = 8;

/**
 * A kept buffer of `bytes` bytes, or nullptr. Buffers are kept under the size their session
 * recorded when a write took them (max_write plus header bytes), which is libfuse's receive size
 * after INIT (libfuse never reads more than max_write plus its header; a buffer allocated before
 * INIT may be larger than recorded, never smaller), so libfuse can read into any buffer taken here.
 */
char* TakePooledReceiveBuffer(size_t bytes);

/**
 * Keeps `base` (`bytes` long, from malloc) for a later receive; false when the pool is full or
 * holds buffers of another size, and then the caller frees it.
 */
bool GivePooledReceiveBuffer(char* base, size_t bytes);

}  // namespace fusebinding
