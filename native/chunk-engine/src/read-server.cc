#include "read-server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../../common/frame-codec.h"

namespace chunk_engine {
namespace {

using namespace frame_codec;

// Status codes of src/common/status-code.ts the client's JavaScript path would meet too.
constexpr uint32_t kInvalidArgument = 100;
constexpr uint32_t kIoError = 105;
constexpr uint32_t kChunkNotCommitted = 5001;
constexpr uint32_t kChecksumMismatch = 5002;
constexpr uint32_t kChunkNotFound = 5007;
constexpr uint32_t kTargetNotServing = 5009;

// A read request body is about 70 bytes; anything near this is not one.
constexpr size_t kRequestBytesMax = 4096;
// Requests read but not answered, per connection, before it stops reading (TCP pushes back).
constexpr uint32_t kInflightMax = 64;
// Reply bytes waiting for the socket before the connection stops reading requests.
constexpr size_t kOutBytesMax = 8u << 20;

uint32_t StatusOf(const EngineFailure& failure) {
  switch (failure.kind) {
    case EngineFailure::Kind::NotFound: return kChunkNotFound;
    case EngineFailure::Kind::Corrupted:
    case EngineFailure::Kind::ChecksumMismatch: return kChecksumMismatch;
    case EngineFailure::Kind::OutOfRange:
    case EngineFailure::Kind::Invalid:
    case EngineFailure::Kind::TooLarge: return kInvalidArgument;
    case EngineFailure::Kind::Closed: return kTargetNotServing;
    default: return kIoError;
  }
}

/** A Storage.read request's fields. */
struct ReadRequest {
  uint64_t targetId = 0;
  uint64_t inode = 0;
  uint64_t index = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool relaxed = true;
};

bool ParseChunkId(Reader& reader, ReadRequest* request) {
  size_t fields = 0;
  if (!reader.Map(&fields) || fields != 2) return false;
  std::string key;
  bool inode = false;
  bool index = false;
  for (size_t i = 0; i < fields; ++i) {
    if (!reader.Key(&key)) return false;
    if (key == "inode") {
      inode = reader.BigUint(&request->inode);
      if (!inode) return false;
    } else if (key == "index") {
      index = reader.Uint(&request->index);
      if (!index) return false;
    } else {
      return false;
    }
  }
  return inode && index && request->index <= 0xffffffffu;
}

/** The request, or false for a body that is not exactly a Storage.read request. */
bool ParseRequest(const uint8_t* body, size_t length, ReadRequest* request) {
  Reader reader(body, length);
  size_t fields = 0;
  if (!reader.Map(&fields) || fields < 4 || fields > 5) return false;
  unsigned seen = 0;
  std::string key;
  for (size_t i = 0; i < fields; ++i) {
    if (!reader.Key(&key)) return false;
    bool ok = false;
    unsigned bit = 0;
    if (key == "targetId") {
      ok = reader.Uint(&request->targetId) && request->targetId <= 0xffffffffu;
      bit = 1;
    } else if (key == "chunkId") {
      ok = ParseChunkId(reader, request);
      bit = 2;
    } else if (key == "offset") {
      ok = reader.Uint(&request->offset);
      bit = 4;
    } else if (key == "length") {
      ok = reader.Uint(&request->length);
      bit = 8;
    } else if (key == "relaxed") {
      ok = reader.Bool(&request->relaxed);
      bit = 16;
    }
    if (!ok || (seen & bit) != 0) return false;
    seen |= bit;
  }
  // `relaxed` may be left out: it defaults to false, as the schema says.
  if ((seen & 16) == 0) request->relaxed = false;
  return reader.done() && (seen & 15) == 15;
}

ChunkKey KeyOf(uint64_t inode, uint32_t index) {
  ChunkKey key{};
  for (int i = 0; i < 8; ++i) key[i] = static_cast<uint8_t>(inode >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) key[8 + i] = static_cast<uint8_t>(index >> (24 - 8 * i));
  return key;
}

}  // namespace

/** A read in the ring: answers its request when the kernel is done, if the connection is still there. */
class ReadServer::ServerReadOp : public RingOp {
 public:
  ServerReadOp(std::shared_ptr<ReadServer> server, std::weak_ptr<Connection> connection, uint32_t requestId,
               uint32_t targetId, std::shared_ptr<Engine> engine, std::unique_ptr<ReadJob> job)
      : server_(std::move(server)),
        connection_(std::move(connection)),
        requestId_(requestId),
        targetId_(targetId),
        engine_(std::move(engine)),
        job_(std::move(job)) {}
  ReadJob& job() { return *job_; }

  void Finished(int error) override {
    EngineFailure failure;
    const bool ok = engine_->FinishRingRead(*job_, error, &failure);
    std::shared_ptr<Connection> connection = connection_.lock();
    if (!connection || connection->fd < 0) return;
    if (ok) {
      server_->SendRead(*connection, requestId_, *job_);
      auto target = server_->targets_.find(targetId_);
      if (target != server_->targets_.end()) {
        target->second.reads += 1;
        target->second.bytes += job_->end - job_->start;
      }
    } else {
      server_->SendError(*connection, requestId_, StatusOf(failure), failure.message);
    }
    server_->ReadDone(connection);
  }

 private:
  std::shared_ptr<ReadServer> server_;
  std::weak_ptr<Connection> connection_;
  uint32_t requestId_;
  uint32_t targetId_;
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<ReadJob> job_;
};

ReadServer::ReadServer(uv_loop_t* loop, uint32_t readBytesMax) : loop_(loop), readBytesMax_(readBytesMax) {}

ReadServer::~ReadServer() { Close(); }

void ReadServer::SetTarget(uint32_t targetId, std::shared_ptr<Engine> engine, std::shared_ptr<ReadRing> ring,
                           bool readable) {
  Target& target = targets_[targetId];
  target.engine = std::move(engine);
  target.ring = std::move(ring);
  target.readable = readable;
}

void ReadServer::SetReadable(uint32_t targetId, bool readable) {
  auto found = targets_.find(targetId);
  if (found != targets_.end()) found->second.readable = readable;
}

void ReadServer::RemoveTarget(uint32_t targetId) {
  auto found = targets_.find(targetId);
  if (found == targets_.end()) return;
  // Counters of a removed target are kept until taken: only its engine goes.
  found->second.engine.reset();
  found->second.ring.reset();
  found->second.readable = false;
}

std::vector<ReadServerCounters> ReadServer::TakeCounters() {
  std::vector<ReadServerCounters> taken;
  for (auto& [targetId, target] : targets_) {
    if (target.reads == 0 && target.bytes == 0) continue;
    taken.push_back({targetId, target.reads, target.bytes});
    target.reads = 0;
    target.bytes = 0;
  }
  return taken;
}

void ReadServer::CloseConnection(int64_t id) {
  auto found = byId_.find(id);
  if (found != byId_.end()) Drop(*found->second);
}

int64_t ReadServer::Adopt(int fd) {
  if (closed_) return -ESHUTDOWN;
  const int own = TakeOverSocket(fd);
  if (own < 0) return own;
  auto connection = std::make_shared<Connection>();
  connection->server = this;
  connection->fd = own;
  connection->in.resize(kHeaderBytes + kRequestBytesMax);
  connection->poll = NewSocketPoll(loop_, own, connection.get());
  if (connection->poll == nullptr) {
    close(own);
    return -EINVAL;
  }
  connection->id = nextId_++;
  connections_.emplace(connection.get(), connection);
  byId_.emplace(connection->id, connection.get());
  UpdatePoll(*connection);
  return connection->id;
}

void ReadServer::UpdatePoll(Connection& connection) {
  if (connection.fd < 0) return;
  const bool reading = connection.inflight < kInflightMax && connection.out.size() < kOutBytesMax;
  connection.paused = !reading;
  int events = UV_DISCONNECT | (reading ? UV_READABLE : 0) | (connection.wantWrite ? UV_WRITABLE : 0);
  uv_poll_start(connection.poll, events, OnPoll);
}

void ReadServer::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* raw = static_cast<Connection*>(handle->data);
  if (raw == nullptr) return;
  ReadServer* server = raw->server;
  auto found = server->connections_.find(raw);
  if (found == server->connections_.end()) return;
  std::shared_ptr<Connection> connection = found->second;  // alive through this callback
  if (status < 0) {
    server->Drop(*connection);
    return;
  }
  if ((events & UV_WRITABLE) != 0) server->Flush(*connection);
  if (connection->fd >= 0 && (events & (UV_READABLE | UV_DISCONNECT)) != 0) server->Readable(connection);
}

void ReadServer::Readable(const std::shared_ptr<Connection>& connection) {
  Connection& c = *connection;
  while (c.fd >= 0 && !c.paused) {
    ssize_t got = recv(c.fd, c.in.data() + c.inUsed, c.in.size() - c.inUsed, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) Drop(c);
      return;
    }
    if (got == 0) {
      Drop(c);
      return;
    }
    c.inUsed += static_cast<size_t>(got);
    size_t at = 0;
    while (c.fd >= 0 && c.inUsed - at >= kHeaderBytes) {
      Header header;
      if (!GetHeader(c.in.data() + at, &header) || header.kind != kKindRequest || header.status != 0 ||
          header.serviceId != kStorageService || header.methodId != kReadMethod || header.payloadLength != 0 ||
          header.bodyLength > kRequestBytesMax) {
        Drop(c);
        return;
      }
      const size_t total = kHeaderBytes + header.bodyLength;
      if (c.inUsed - at < total) break;
      if (!Serve(connection, header.requestId, c.in.data() + at + kHeaderBytes, header.bodyLength)) {
        Drop(c);
        return;
      }
      at += total;
    }
    if (c.fd < 0) return;
    std::memmove(c.in.data(), c.in.data() + at, c.inUsed - at);
    c.inUsed -= at;
    UpdatePoll(c);
  }
}

bool ReadServer::Serve(const std::shared_ptr<Connection>& connection, uint32_t requestId, const uint8_t* body,
                       size_t bodyLength) {
  Connection& c = *connection;
  ReadRequest request;
  if (!ParseRequest(body, bodyLength, &request)) return false;
  if (request.relaxed || request.length > readBytesMax_) {
    SendError(c, requestId, kInvalidArgument, "this channel serves committed reads of a bounded size");
    return true;
  }
  const uint32_t targetId = static_cast<uint32_t>(request.targetId);
  auto found = targets_.find(targetId);
  if (found == targets_.end() || !found->second.readable || !found->second.engine) {
    SendError(c, requestId, kTargetNotServing, "target " + std::to_string(targetId) + " is not readable here");
    return true;
  }
  Target& target = found->second;
  const ChunkKey key = KeyOf(request.inode, static_cast<uint32_t>(request.index));
  if (target.engine->HasPending(key)) {
    SendError(c, requestId, kChunkNotCommitted, "the chunk has an update in flight");
    return true;
  }
  EngineFailure failure;
  std::unique_ptr<ReadJob> job = target.engine->BeginRead(key, request.offset, request.length, false, &failure);
  if (!job) {
    SendError(c, requestId, StatusOf(failure), failure.message);
    return true;
  }
  std::shared_ptr<Engine> engine = target.engine;
  if (!target.ring || !target.ring->usable()) {
    // No ring: only what the page cache holds is read here; the rest goes the JavaScript way.
    const bool ok = engine->RunRead(*job, &failure, true);
    engine->FinishRead(*job);
    if (ok) {
      SendRead(c, requestId, *job);
      target.reads += 1;
      target.bytes += job->end - job->start;
    } else {
      SendError(c, requestId, kIoError, "not in the page cache, and no read ring");
    }
    return true;
  }
  auto* op = new ServerReadOp(shared_from_this(), connection, requestId, targetId, engine, std::move(job));
  ReadJob& planned = op->job();
  engine->PlanRead(planned);
  for (const ReadRun& run : planned.runs) {
    if (run.hole) continue;
    RingRead read;
    if (!engine->LocateRun(run, planned, &read.fd, &read.position, &failure)) {
      engine->FinishRead(planned);
      delete op;
      SendError(c, requestId, StatusOf(failure), failure.message);
      return true;
    }
    read.data = run.target;
    read.length = static_cast<size_t>(run.bytes);
    op->reads.push_back(read);
  }
  c.inflight += 1;
  // The ring owns `op` from here, and may finish it before Submit returns (cached pages).
  std::shared_ptr<ReadRing> ring = target.ring;
  if (!ring->Submit(op)) {
    c.inflight -= 1;
    engine->FinishRead(planned);
    delete op;
    SendError(c, requestId, kIoError, "the read ring is full");
  }
  return true;
}

void ReadServer::ReadDone(const std::shared_ptr<Connection>& connection) {
  if (connection->inflight > 0) connection->inflight -= 1;
  if (connection->fd >= 0 && connection->paused) {
    UpdatePoll(*connection);
  }
}

void ReadServer::SendRead(Connection& connection, uint32_t requestId, const ReadJob& job) {
  const uint64_t length = job.end - job.start;
  std::string body;
  body.reserve(64);
  PutMap(body, 5);
  PutKey(body, "version");
  PutUint(body, job.info.version);
  PutKey(body, "chunkLength");
  PutUint(body, job.info.length);
  PutKey(body, "length");
  PutUint(body, length);
  PutKey(body, "checksum");
  PutUint(body, job.checksum);
  PutKey(body, "uncommitted");
  PutBool(body, false);
  Send(connection, requestId, 0, body, job.Bytes(), length, job.checksum);
}

void ReadServer::SendError(Connection& connection, uint32_t requestId, uint32_t status, const std::string& message) {
  std::string body;
  PutMap(body, 1);
  PutKey(body, "message");
  PutString(body, message.substr(0, 1024));
  Send(connection, requestId, status, body, nullptr, 0, 0);
}

void ReadServer::Send(Connection& connection, uint32_t requestId, uint32_t status, const std::string& body,
                      const uint8_t* payload, uint64_t payloadLength, uint32_t payloadCrc) {
  Header header;
  header.kind = kKindResponse;
  // A read's reply carries its bytes (even none); an error's carries none.
  header.flags = payload != nullptr ? kFlagHasPayload : 0;
  header.status = status;
  header.requestId = requestId;
  header.serviceId = kStorageService;
  header.methodId = kReadMethod;
  header.bodyLength = static_cast<uint32_t>(body.size());
  header.payloadLength = static_cast<uint32_t>(payloadLength);
  header.payloadCrc = payloadCrc;
  std::string& out = connection.out;
  const bool wasIdle = out.empty();
  PutHeader(out, header);
  out.append(body);
  if (payloadLength > 0) out.append(reinterpret_cast<const char*>(payload), payloadLength);
  if (wasIdle) Flush(connection);
}

void ReadServer::Flush(Connection& connection) {
  while (connection.fd >= 0 && !connection.out.empty()) {
    ssize_t sent = send(connection.fd, connection.out.data(), connection.out.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Drop(connection);
      return;
    }
    connection.out.erase(0, static_cast<size_t>(sent));
  }
  if (connection.fd < 0) return;
  const bool wantWrite = !connection.out.empty();
  if (wantWrite != connection.wantWrite || connection.paused) {
    connection.wantWrite = wantWrite;
    UpdatePoll(connection);
  }
}

void ReadServer::Drop(Connection& connection) {
  if (connection.fd < 0) return;
  uv_poll_stop(connection.poll);
  connection.poll->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(connection.poll),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
  connection.poll = nullptr;
  close(connection.fd);
  connection.fd = -1;
  connection.out.clear();
  // Reads in flight hold the connection weakly: they see it gone and drop their replies.
  byId_.erase(connection.id);
  connections_.erase(&connection);
}

void ReadServer::Close() {
  if (closed_) return;
  closed_ = true;
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& entry : connections_) all.push_back(entry.second);
  for (auto& connection : all) Drop(*connection);
  targets_.clear();
}

}  // namespace chunk_engine
