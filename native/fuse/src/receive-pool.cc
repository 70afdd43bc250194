#include "receive-pool.h"

#include <mutex>
#include <vector>

namespace fusebinding {
namespace {

// Finalizers run on the JavaScript thread, receives on it or on worker threads: one lock.
std::mutex poolMutex;
std::vector<char*> pooled;
size_t pooledBytes = 0;

}  // namespace

char* TakePooledReceiveBuffer(size_t bytes) {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (pooled.empty() || bytes != pooledBytes) return nullptr;
  char* base = pooled.back();
  pooled.pop_back();
  return base;
}

bool GivePooledReceiveBuffer(char* base, size_t bytes) {
  if (base == nullptr || bytes == 0) return false;
  std::lock_guard<std::mutex> lock(poolMutex);
  // A session with another max_write: its buffers replace the kept ones once those are gone.
  if (pooled.empty()) pooledBytes = bytes;
  if (bytes != pooledBytes || pooled.size() >= kReceivePoolBuffersMax) return false;
  pooled.push_back(base);
  return true;
}

}  // namespace fusebinding
