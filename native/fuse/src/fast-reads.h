// Reads answered without JavaScript: a READ of a file handle the file system registered is sent
// straight to a storage service over a connection of this addon's own, and the chunk bytes go back
// to the kernel from here. Everything else (and every read this path cannot finish exactly) goes
// to JavaScript as before. Invariants:
//  - It all runs on the JavaScript thread's event loop (the session reads /dev/fuse there), so no
//    table here needs a lock and a reply never races session teardown.
//  - A read is answered here only with exactly the bytes asked for, all inside one chunk and inside
//    the length the file system registered, read from the replica the file system's own client
//    would try first, and checked against the CRC32C the replica sent for them (in the frame and
//    in the reply body). A short read, an error status, a bad checksum, a lost connection or a
//    timeout hands the request to JavaScript unanswered, which reads it with its retries and
//    replica choice: this path never answers a read with an error of its own.
//  - The file system registers a handle only while nothing of the file is buffered, written or
//    truncated in this client, and forgets it (ForgetInode) before any such change, so a read
//    answered here is one JavaScript would have answered with the same bytes.
//  - Connections arrive authenticated (the handshake is JavaScript's; this takes over a duplicate
//    of the socket); a frame that breaks the protocol closes its connection, never the process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

#include "request.h"

namespace fusebinding {

class SessionCore;

struct FastReadOptions {
  uint32_t readBytesMax = 128 * 1024;  // larger reads go to JavaScript (its read-ahead)
  uint32_t regionBytes = 1024 * 1024;  // the client's read region (chunk-client.ts regionHash)
  uint32_t timeoutMs = 5000;           // a read unanswered this long goes to JavaScript
  uint32_t penaltyMs = 2000;           // a replica that failed a read is left to JavaScript this long
};

/** A registered file handle: where its chunks are and how long JavaScript says the file is. */
struct FastReadFile {
  uint64_t inode = 0;  // the inode id in chunk ids
  uint32_t chunkBytes = 0;
  uint64_t length = 0;
  std::vector<uint32_t> chainOfPosition;  // chunk i is on chainOfPosition[i % size()]
};

struct FastReadStats {
  uint64_t answered = 0;    // reads answered here
  uint64_t handedOver = 0;  // reads sent to storage here and then given to JavaScript
  uint64_t connectionsLost = 0;
};

class FastReads {
 public:
  FastReads(SessionCore* core, uv_loop_t* loop, const FastReadOptions& options);
  ~FastReads();
  FastReads(const FastReads&) = delete;
  FastReads& operator=(const FastReads&) = delete;

  /** Takes `request` (a READ) when it can be sent from here; false leaves it to the caller. */
  bool Start(Request* request);

  /** Takes over a duplicate of `fd`, an authenticated connection to `address`; 0 or -errno. */
  int AddConnection(const std::string& address, int fd);
  bool HasConnection(const std::string& address) const { return connections_.count(address) != 0; }
  void SetTarget(uint32_t targetId, const std::string& address) { targets_[targetId] = address; }
  /** The serving replicas of a chain, grouped by host, each group tail first (chunk-client.ts). */
  void SetChain(uint32_t chainId, std::vector<std::vector<uint32_t>> groups);
  void SetFile(uint64_t fh, FastReadFile file) { files_[fh] = std::move(file); }
  void ForgetFile(uint64_t fh) { files_.erase(fh); }
  void ForgetInode(uint64_t inode);
  const FastReadStats& stats() const { return stats_; }
  /** Answers every read still held with EIO and closes every connection (session teardown). */
  void Shutdown();

 private:
  struct Pending {
    Request* request;
    uint64_t startedMs;
    uint32_t targetId;
  };
  struct Connection {
    FastReads* owner = nullptr;
    std::string address;
    int fd = -1;
    uv_poll_t* poll = nullptr;
    bool wantWrite = false;
    std::string out;  // bytes not yet written
    std::vector<uint8_t> in;
    size_t inUsed = 0;
    uint32_t nextRequestId = 1;
    std::unordered_map<uint32_t, Pending> inflight;
  };

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* timer);
  void Readable(Connection& connection);
  void Writable(Connection& connection);
  /** Consumes the complete frames in the receive buffer; false when the stream is broken. */
  bool ParseFrames(Connection& connection);
  void Finish(Connection& connection, uint32_t requestId, uint32_t status, const uint8_t* body,
              size_t bodyLength, const uint8_t* payload, size_t payloadLength, uint32_t payloadCrc);
  void UpdatePoll(Connection& connection);
  /** Closes the connection and hands its reads to JavaScript. */
  void Drop(const std::string& address, const char* why);
  void HandOver(Request* request);
  /** True while `connection` is still the one open to `address`. */
  bool Alive(const std::string& address, const Connection* connection) const;
  uint64_t NowMs() const;

  SessionCore* core_;
  uv_loop_t* loop_;
  FastReadOptions options_;
  uv_timer_t* timer_ = nullptr;
  bool shutDown_ = false;
  FastReadStats stats_;
  std::unordered_map<uint64_t, FastReadFile> files_;
  std::unordered_map<uint32_t, std::vector<std::vector<uint32_t>>> chains_;
  std::unordered_map<uint32_t, std::string> targets_;
  std::unordered_map<uint32_t, uint64_t> penalties_;  // target id -> until (ms)
  std::unordered_map<std::string, std::unique_ptr<Connection>> connections_;
};

}  // namespace fusebinding
