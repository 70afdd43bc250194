// Storage.read served without JavaScript, on connections the storage service hands over after a
// client asked for a read channel (Storage.openReadChannel): the FUSE binding's fast reads. Each
// request is read from the target's engine through its read ring, exactly as the JavaScript
// handler reads it (committed version only, refused while an update is in flight or the target is
// not readable), and answered with the same reply: body, payload and the payload's CRC32C, which
// the engine computed while verifying the blocks. Invariants:
//  - Everything runs on the JavaScript thread's event loop (the read ring completes there too), so
//    nothing here takes a lock of its own; the engine's own state lock guards BeginRead as always.
//  - A channel carries only Storage.read requests. Any other frame, or bytes that are not a frame,
//    close that connection; a request this path cannot serve (unknown or unreadable target, a
//    chunk mid-update, a bad range, a full ring) is answered with an error status, which sends
//    the client back to its JavaScript path. Nothing a peer sends can end the process.
//  - Targets' readability is pushed by the storage service whenever its view of routing changes;
//    a target it removes or closes is dropped here first.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine.h"
#include "read-ring.h"

namespace chunk_engine {

struct ReadServerCounters {
  uint32_t targetId = 0;
  uint64_t reads = 0;
  uint64_t bytes = 0;
};

class ReadServer : public std::enable_shared_from_this<ReadServer> {
 public:
  ReadServer(uv_loop_t* loop, uint32_t readBytesMax);
  ~ReadServer();
  ReadServer(const ReadServer&) = delete;
  ReadServer& operator=(const ReadServer&) = delete;

  /** Serves reads on a duplicate of `fd`, an authenticated connection: its id (> 0), or -errno. */
  int64_t Adopt(int fd);
  /** Whether the channel `id` is still open. */
  bool IsOpen(int64_t id) const { return byId_.count(id) != 0; }
  /** Closes channel `id` (its caller's right to read ended); reads in flight are dropped. */
  void CloseConnection(int64_t id);
  void SetTarget(uint32_t targetId, std::shared_ptr<Engine> engine, std::shared_ptr<ReadRing> ring,
                 bool readable);
  void SetReadable(uint32_t targetId, bool readable);
  void RemoveTarget(uint32_t targetId);
  /** Reads served per target since the last call (and zeroed). */
  std::vector<ReadServerCounters> TakeCounters();
  size_t connections() const { return connections_.size(); }
  /** Closes every connection; reads in flight finish and are dropped. */
  void Close();

 private:
  struct Target {
    std::shared_ptr<Engine> engine;
    std::shared_ptr<ReadRing> ring;
    bool readable = false;
    uint64_t reads = 0;
    uint64_t bytes = 0;
  };
  struct Connection {
    ReadServer* server = nullptr;
    int64_t id = 0;
    int fd = -1;
    uv_poll_t* poll = nullptr;
    std::string out;
    std::vector<uint8_t> in;
    size_t inUsed = 0;
    uint32_t inflight = 0;
    bool wantWrite = false;
    bool paused = false;
  };
  class ServerReadOp;
  friend class ServerReadOp;

  static void OnPoll(uv_poll_t* handle, int status, int events);
  void Readable(const std::shared_ptr<Connection>& connection);
  void Flush(Connection& connection);
  void UpdatePoll(Connection& connection);
  void Drop(Connection& connection);
  /** Serves one request frame; false when it breaks the channel's protocol. */
  bool Serve(const std::shared_ptr<Connection>& connection, uint32_t requestId, const uint8_t* body,
             size_t bodyLength);
  void SendError(Connection& connection, uint32_t requestId, uint32_t status, const std::string& message);
  void SendRead(Connection& connection, uint32_t requestId, const ReadJob& job);
  /** Queues one reply frame (a payload, possibly empty, when `payload` is set) and writes what it can. */
  void Send(Connection& connection, uint32_t requestId, uint32_t status, const std::string& body,
            const uint8_t* payload, uint64_t payloadLength, uint32_t payloadCrc);
  void ReadDone(const std::shared_ptr<Connection>& connection);

  uv_loop_t* loop_;
  uint32_t readBytesMax_;
  bool closed_ = false;
  std::unordered_map<uint32_t, Target> targets_;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
  std::unordered_map<int64_t, Connection*> byId_;
  int64_t nextId_ = 1;
};

}  // namespace chunk_engine
