#include "fast-reads.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../../chunk-engine/src/crc32c.h"
#include "../../common/frame-codec.h"
#include "libfuse-log.h"
#include "session.h"

namespace fusebinding {
namespace {

using namespace frame_codec;

// A reply body of Storage.read is a few dozen bytes; an error reply's message is bounded too.
constexpr size_t kBodyBytesMax = 64 * 1024;
constexpr uint32_t kRequestIdMax = 0xffffffffu;
constexpr uint64_t kTimerPeriodMs = 250;

/** The body of Storage.read: {targetId, chunkId: {inode, index}, offset, length, relaxed: false}. */
std::string ReadBody(uint32_t targetId, uint64_t inode, uint32_t index, uint64_t offset, uint64_t length) {
  std::string body;
  body.reserve(96);
  PutMap(body, 5);
  PutKey(body, "targetId");
  PutUint(body, targetId);
  PutKey(body, "chunkId");
  PutMap(body, 2);
  PutKey(body, "inode");
  PutBigUint(body, inode);
  PutKey(body, "index");
  PutUint(body, index);
  PutKey(body, "offset");
  PutUint(body, offset);
  PutKey(body, "length");
  PutUint(body, length);
  PutKey(body, "relaxed");
  PutBool(body, false);
  return body;
}

/** The fields of a Storage.read reply this path needs; `ok` is false for anything unexpected. */
struct ReadReply {
  bool ok = false;
  uint64_t length = 0;
  uint64_t checksum = 0;
  bool uncommitted = true;
};

ReadReply ParseReadReply(const uint8_t* data, size_t size) {
  ReadReply reply;
  Reader reader(data, size);
  size_t fields = 0;
  if (!reader.Map(&fields)) return reply;
  bool sawLength = false;
  bool sawChecksum = false;
  bool sawUncommitted = false;
  std::string key;
  for (size_t field = 0; field < fields; ++field) {
    if (!reader.Key(&key)) return reply;
    uint64_t ignored = 0;
    if (key == "length") {
      sawLength = reader.Uint(&reply.length);
      if (!sawLength) return reply;
    } else if (key == "checksum") {
      sawChecksum = reader.Uint(&reply.checksum);
      if (!sawChecksum) return reply;
    } else if (key == "uncommitted") {
      sawUncommitted = reader.Bool(&reply.uncommitted);
      if (!sawUncommitted) return reply;
    } else if (!reader.Uint(&ignored)) {
      return reply;  // version and chunkLength are unsigned integers; nothing else belongs here
    }
  }
  reply.ok = reader.done() && sawLength && sawChecksum && sawUncommitted;
  return reply;
}

/**
 * The replica hash of src/cluster/chunk-client.ts (regionHash): the same 32-bit arithmetic, so a
 * read here goes where the client's own read of the same bytes would go first.
 */
uint32_t RegionHash(uint64_t inode, uint32_t index, uint32_t region) {
  uint32_t hash = static_cast<uint32_t>(inode) ^ (static_cast<uint32_t>(inode >> 32) * 0x27d4eb2du);
  hash = (hash ^ index) * 0x9e3779b1u;
  hash = (hash ^ (hash >> 16) ^ region) * 0x85ebca6bu;
  hash = (hash ^ (hash >> 13)) * 0xc2b2ae35u;
  return (hash ^ (hash >> 16)) >> 1;
}

}  // namespace

FastReads::FastReads(SessionCore* core, uv_loop_t* loop, const FastReadOptions& options)
    : core_(core), loop_(loop), options_(options) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(timer_, OnTimer, kTimerPeriodMs, kTimerPeriodMs);
  // The timer alone must not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
}

FastReads::~FastReads() { Shutdown(); }

uint64_t FastReads::NowMs() const { return uv_now(loop_); }

bool FastReads::Alive(const std::string& address, const Connection* connection) const {
  auto found = connections_.find(address);
  return found != connections_.end() && found->second.get() == connection;
}

void FastReads::SetChain(uint32_t chainId, std::vector<std::vector<uint32_t>> groups) {
  chains_[chainId] = std::move(groups);
}

void FastReads::ForgetInode(uint64_t inode) {
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->second.inode == inode) {
      it = files_.erase(it);
    } else {
      ++it;
    }
  }
}

bool FastReads::Start(Request* request) {
  if (shutDown_ || !request->hasFh || request->req == nullptr) return false;
  auto file = files_.find(request->fh);
  if (file == files_.end()) return false;
  const FastReadFile& f = file->second;
  const uint64_t size = request->length;
  const uint64_t offset = request->offset;
  if (size == 0 || size > options_.readBytesMax || f.chunkBytes == 0 || f.chainOfPosition.empty()) return false;
  if (offset > f.length || size > f.length - offset) return false;
  const uint64_t index = offset / f.chunkBytes;
  if ((offset + size - 1) / f.chunkBytes != index || index > 0xffffffffu) return false;
  const uint32_t chainId = f.chainOfPosition[index % f.chainOfPosition.size()];
  auto chain = chains_.find(chainId);
  if (chain == chains_.end() || chain->second.empty()) return false;
  const uint64_t offsetInChunk = offset - index * f.chunkBytes;
  const uint32_t region = static_cast<uint32_t>(offsetInChunk / options_.regionBytes);
  const auto& groups = chain->second;
  const auto& group = groups[RegionHash(f.inode, static_cast<uint32_t>(index), region) % groups.size()];
  if (group.empty()) return false;
  const uint32_t targetId = group.front();
  auto penalty = penalties_.find(targetId);
  if (penalty != penalties_.end()) {
    if (penalty->second > NowMs()) return false;
    penalties_.erase(penalty);
  }
  auto address = targets_.find(targetId);
  if (address == targets_.end()) return false;
  auto found = connections_.find(address->second);
  if (found == connections_.end()) return false;
  Connection& connection = *found->second;

  uint32_t requestId = connection.nextRequestId;
  while (connection.inflight.count(requestId) != 0 || requestId == 0) {
    requestId = requestId == kRequestIdMax ? 1 : requestId + 1;
  }
  connection.nextRequestId = requestId == kRequestIdMax ? 1 : requestId + 1;
  std::string body = ReadBody(targetId, f.inode, static_cast<uint32_t>(index), offsetInChunk, size);
  std::string& out = connection.out;
  const bool wasIdle = out.empty();
  Header header;
  header.kind = kKindRequest;
  header.requestId = requestId;
  header.serviceId = kStorageService;
  header.methodId = kReadMethod;
  header.bodyLength = static_cast<uint32_t>(body.size());
  PutHeader(out, header);
  out.append(body);
  connection.inflight.emplace(requestId, Pending{request, NowMs(), targetId});
  if (wasIdle) Writable(connection);  // may drop the connection, handing the read to JavaScript
  return true;
}

int FastReads::AddConnection(const std::string& address, int fd) {
  if (shutDown_) return -ESHUTDOWN;
  if (connections_.count(address) != 0) return -EEXIST;
  const int own = TakeOverSocket(fd);
  if (own < 0) return own;
  auto connection = std::make_unique<Connection>();
  connection->owner = this;
  connection->address = address;
  connection->fd = own;
  connection->in.resize(kHeaderBytes + kBodyBytesMax + options_.readBytesMax);
  connection->poll = NewSocketPoll(loop_, own, connection.get());
  if (connection->poll == nullptr) {
    close(own);
    return -EINVAL;
  }
  Connection& added = *connection;
  connections_.emplace(address, std::move(connection));
  UpdatePoll(added);
  return 0;
}

void FastReads::UpdatePoll(Connection& connection) {
  int events = UV_READABLE | UV_DISCONNECT | (connection.wantWrite ? UV_WRITABLE : 0);
  uv_poll_start(connection.poll, events, OnPoll);
}

void FastReads::OnPoll(uv_poll_t* handle, int status, int events) {
  Connection* connection = static_cast<Connection*>(handle->data);
  if (connection == nullptr) return;
  FastReads* self = connection->owner;
  const std::string address = connection->address;
  if (status < 0) {
    self->Drop(address, uv_strerror(status));
    return;
  }
  if ((events & UV_WRITABLE) != 0) {
    self->Writable(*connection);
    if (!self->Alive(address, connection)) return;
  }
  if ((events & (UV_READABLE | UV_DISCONNECT)) != 0) self->Readable(*connection);
}

void FastReads::Writable(Connection& connection) {
  while (!connection.out.empty()) {
    ssize_t sent = send(connection.fd, connection.out.data(), connection.out.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Drop(connection.address, strerror(errno));
      return;
    }
    connection.out.erase(0, static_cast<size_t>(sent));
  }
  bool wantWrite = !connection.out.empty();
  if (wantWrite != connection.wantWrite) {
    connection.wantWrite = wantWrite;
    UpdatePoll(connection);
  }
}

void FastReads::Readable(Connection& connection) {
  const std::string address = connection.address;
  for (;;) {
    if (connection.inUsed == connection.in.size()) {
      Drop(address, "a reply larger than any read this path sends");
      return;
    }
    ssize_t got = recv(connection.fd, connection.in.data() + connection.inUsed,
                       connection.in.size() - connection.inUsed, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Drop(address, strerror(errno));
      return;
    }
    if (got == 0) {
      Drop(address, "the storage service closed the connection");
      return;
    }
    connection.inUsed += static_cast<size_t>(got);
    if (!ParseFrames(connection)) {
      Drop(address, "a malformed frame");
      return;
    }
    if (!Alive(address, &connection)) return;
  }
}

bool FastReads::ParseFrames(Connection& connection) {
  size_t at = 0;
  const uint8_t* data = connection.in.data();
  while (connection.inUsed - at >= kHeaderBytes) {
    const uint8_t* h = data + at;
    Header header;
    if (!GetHeader(h, &header) || header.kind != kKindResponse) return false;
    if (header.serviceId != kStorageService || header.methodId != kReadMethod) return false;
    if (header.bodyLength > kBodyBytesMax || header.payloadLength > options_.readBytesMax) return false;
    const size_t total = kHeaderBytes + header.bodyLength + header.payloadLength;
    if (connection.inUsed - at < total) break;
    Finish(connection, header.requestId, header.status, h + kHeaderBytes, header.bodyLength,
           h + kHeaderBytes + header.bodyLength, header.payloadLength, header.payloadCrc);
    at += total;
  }
  if (at > 0) {
    std::memmove(connection.in.data(), connection.in.data() + at, connection.inUsed - at);
    connection.inUsed -= at;
  }
  return true;
}

void FastReads::Finish(Connection& connection, uint32_t requestId, uint32_t status, const uint8_t* body,
                       size_t bodyLength, const uint8_t* payload, size_t payloadLength, uint32_t payloadCrc) {
  auto found = connection.inflight.find(requestId);
  if (found == connection.inflight.end()) return;  // given to JavaScript after a timeout
  Request* request = found->second.request;
  const uint32_t targetId = found->second.targetId;
  connection.inflight.erase(found);
  bool exact = false;
  if (status == 0) {
    ReadReply reply = ParseReadReply(body, bodyLength);
    const uint32_t crc = chunk_engine::Crc32c(payload, payloadLength);
    const bool intact = crc == payloadCrc && crc == reply.checksum;
    exact = reply.ok && intact && !reply.uncommitted && reply.length == payloadLength &&
            payloadLength == request->length;
    // Bytes that fail their checksum: the client reads them elsewhere; this replica waits a while.
    if (!intact) penalties_[targetId] = NowMs() + options_.penaltyMs;
  }
  if (!exact) {
    // Whatever the replica said, the client's read decides: its retries, zeros for holes, errors.
    HandOver(request);
    return;
  }
  if (request->req == nullptr || request->state != RequestState::Queued) {
    delete request;  // answered by teardown meanwhile
    return;
  }
  fuse_req_t req = request->req;
  // Out of the pending table before the reply frees the fuse_req_t (as AnswerWithError does).
  core_->Complete(*request);
  request->state = RequestState::Answered;
  fuse_reply_buf(req, reinterpret_cast<const char*>(payload), payloadLength);
  delete request;
  stats_.answered += 1;
}

void FastReads::HandOver(Request* request) {
  stats_.handedOver += 1;
  if (shutDown_ || request->req == nullptr) {
    if (request->req != nullptr) core_->AnswerWithError(*request, EIO);
    delete request;
    return;
  }
  core_->DeliverFromLoop(request);
}

void FastReads::Drop(const std::string& address, const char* why) {
  auto found = connections_.find(address);
  if (found == connections_.end()) return;
  std::unique_ptr<Connection> connection = std::move(found->second);
  connections_.erase(found);
  stats_.connectionsLost += 1;
  if (!shutDown_) LogError("fast reads: connection to %s closed: %s", address.c_str(), why);
  uv_poll_stop(connection->poll);
  connection->poll->data = nullptr;
  int fd = connection->fd;
  uv_close(reinterpret_cast<uv_handle_t*>(connection->poll), [](uv_handle_t* handle) {
    delete reinterpret_cast<uv_poll_t*>(handle);
  });
  close(fd);
  for (auto& entry : connection->inflight) HandOver(entry.second.request);
}

void FastReads::OnTimer(uv_timer_t* timer) {
  FastReads* self = static_cast<FastReads*>(timer->data);
  const uint64_t now = self->NowMs();
  std::vector<std::string> stale;
  for (auto& entry : self->connections_) {
    for (auto& pending : entry.second->inflight) {
      if (now - pending.second.startedMs >= self->options_.timeoutMs) {
        stale.push_back(entry.first);
        break;
      }
    }
  }
  for (const auto& address : stale) self->Drop(address, "a read timed out");
}

void FastReads::Shutdown() {
  if (shutDown_) return;
  shutDown_ = true;
  std::vector<std::string> addresses;
  for (auto& entry : connections_) addresses.push_back(entry.first);
  for (const auto& address : addresses) Drop(address, "the session is closing");
  files_.clear();
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* handle) {
      delete reinterpret_cast<uv_timer_t*>(handle);
    });
    timer_ = nullptr;
  }
}

}  // namespace fusebinding
