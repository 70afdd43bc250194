#include "fast-reads.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../../chunk-engine/src/crc32c.h"
#include "libfuse-log.h"
#include "session.h"

namespace fusebinding {
namespace {

// The RPC frame (src/rpc/frame.ts): a 32-byte big-endian header, a msgpack body, a payload.
constexpr uint32_t kFrameMagic = 0x33465352;
constexpr uint8_t kFrameVersion = 1;
constexpr uint8_t kKindRequest = 1;
constexpr uint8_t kKindResponse = 2;
constexpr uint16_t kFlagHasPayload = 1;
constexpr size_t kHeaderBytes = 32;
// Storage.read (src/storage/protocol/methods.ts).
constexpr uint16_t kStorageService = 3;
constexpr uint16_t kReadMethod = 3;
// A reply body of Storage.read is a few dozen bytes; an error reply's message is bounded too.
constexpr size_t kBodyBytesMax = 64 * 1024;
constexpr uint32_t kRequestIdMax = 0xffffffffu;
constexpr uint64_t kTimerPeriodMs = 250;

void PutU16(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

void PutU32(std::string& out, uint32_t value) {
  PutU16(out, static_cast<uint16_t>(value >> 16));
  PutU16(out, static_cast<uint16_t>(value));
}

void PutU64(std::string& out, uint64_t value) {
  PutU32(out, static_cast<uint32_t>(value >> 32));
  PutU32(out, static_cast<uint32_t>(value));
}

uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t GetU32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

/** A msgpack string of at most 31 bytes (every key here). */
void PutKey(std::string& out, const char* key) {
  size_t length = std::strlen(key);
  out.push_back(static_cast<char>(0xa0 | length));
  out.append(key, length);
}

/** A msgpack unsigned integer in its shortest form, as the TypeScript encoder writes it. */
void PutUint(std::string& out, uint64_t value) {
  if (value <= 0x7f) {
    out.push_back(static_cast<char>(value));
  } else if (value <= 0xff) {
    out.push_back(static_cast<char>(0xcc));
    out.push_back(static_cast<char>(value));
  } else if (value <= 0xffff) {
    out.push_back(static_cast<char>(0xcd));
    PutU16(out, static_cast<uint16_t>(value));
  } else if (value <= 0xffffffffu) {
    out.push_back(static_cast<char>(0xce));
    PutU32(out, static_cast<uint32_t>(value));
  } else {
    out.push_back(static_cast<char>(0xcf));
    PutU64(out, value);
  }
}

/** The body of Storage.read: {targetId, chunkId: {inode, index}, offset, length, relaxed: false}. */
std::string ReadBody(uint32_t targetId, uint64_t inode, uint32_t index, uint64_t offset, uint64_t length) {
  std::string body;
  body.reserve(96);
  body.push_back(static_cast<char>(0x85));
  PutKey(body, "targetId");
  PutUint(body, targetId);
  PutKey(body, "chunkId");
  body.push_back(static_cast<char>(0x82));
  PutKey(body, "inode");
  // A bigint travels as extension type 0 with 8 bytes big-endian (src/rpc/body-codec.ts).
  body.push_back(static_cast<char>(0xd7));
  body.push_back(0);
  PutU64(body, inode);
  PutKey(body, "index");
  PutUint(body, index);
  PutKey(body, "offset");
  PutUint(body, offset);
  PutKey(body, "length");
  PutUint(body, length);
  PutKey(body, "relaxed");
  body.push_back(static_cast<char>(0xc2));
  return body;
}

/** The fields of a Storage.read reply this path needs; `ok` is false for anything unexpected. */
struct ReadReply {
  bool ok = false;
  uint64_t length = 0;
  uint64_t checksum = 0;
  bool uncommitted = true;
};

/** Reads a msgpack unsigned integer or boolean at `*at`; false for any other type. */
bool ReadScalar(const uint8_t* data, size_t size, size_t* at, uint64_t* value) {
  if (*at >= size) return false;
  uint8_t type = data[(*at)++];
  size_t bytes = 0;
  if (type <= 0x7f) {
    *value = type;
    return true;
  }
  if (type == 0xc2 || type == 0xc3) {
    *value = type == 0xc3 ? 1 : 0;
    return true;
  }
  switch (type) {
    case 0xcc: bytes = 1; break;
    case 0xcd: bytes = 2; break;
    case 0xce: bytes = 4; break;
    case 0xcf: bytes = 8; break;
    default: return false;
  }
  if (size - *at < bytes) return false;
  uint64_t result = 0;
  for (size_t i = 0; i < bytes; ++i) result = (result << 8) | data[*at + i];
  *at += bytes;
  *value = result;
  return true;
}

ReadReply ParseReadReply(const uint8_t* data, size_t size) {
  ReadReply reply;
  size_t at = 0;
  if (size == 0 || (data[0] & 0xf0) != 0x80) return reply;
  size_t fields = data[at++] & 0x0f;
  bool sawLength = false;
  bool sawChecksum = false;
  bool sawUncommitted = false;
  for (size_t field = 0; field < fields; ++field) {
    if (at >= size || (data[at] & 0xe0) != 0xa0) return reply;
    size_t keyLength = data[at++] & 0x1f;
    if (size - at < keyLength) return reply;
    std::string key(reinterpret_cast<const char*>(data + at), keyLength);
    at += keyLength;
    uint64_t value = 0;
    if (!ReadScalar(data, size, &at, &value)) return reply;
    if (key == "length") {
      reply.length = value;
      sawLength = true;
    } else if (key == "checksum") {
      reply.checksum = value;
      sawChecksum = true;
    } else if (key == "uncommitted") {
      reply.uncommitted = value != 0;
      sawUncommitted = true;
    }
  }
  reply.ok = at == size && sawLength && sawChecksum && sawUncommitted;
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
  PutU32(out, kFrameMagic);
  out.push_back(static_cast<char>(kFrameVersion));
  out.push_back(static_cast<char>(kKindRequest));
  PutU16(out, 0);  // flags: no payload
  PutU32(out, 0);  // status
  PutU32(out, requestId);
  PutU16(out, kStorageService);
  PutU16(out, kReadMethod);
  PutU32(out, static_cast<uint32_t>(body.size()));
  PutU32(out, 0);  // payload length
  PutU32(out, 0);  // payload CRC32C
  out.append(body);
  connection.inflight.emplace(requestId, Pending{request, NowMs(), targetId});
  if (wasIdle) Writable(connection);  // may drop the connection, handing the read to JavaScript
  return true;
}

int FastReads::AddConnection(const std::string& address, int fd) {
  if (shutDown_) return -ESHUTDOWN;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  int flags = fcntl(own, F_GETFL);
  if (flags < 0 || fcntl(own, F_SETFL, flags | O_NONBLOCK) != 0) {
    int error = errno;
    close(own);
    return -error;
  }
  int one = 1;
  setsockopt(own, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connections_.count(address) != 0) {
    close(own);
    return -EEXIST;
  }
  auto connection = std::make_unique<Connection>();
  connection->owner = this;
  connection->address = address;
  connection->fd = own;
  connection->in.resize(kHeaderBytes + kBodyBytesMax + options_.readBytesMax);
  connection->poll = new uv_poll_t;
  if (uv_poll_init(loop_, connection->poll, own) != 0) {
    delete connection->poll;
    close(own);
    return -EINVAL;
  }
  connection->poll->data = connection.get();
  // Like the timer, a connection alone does not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(connection->poll));
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
    if (GetU32(h) != kFrameMagic || h[4] != kFrameVersion || h[5] != kKindResponse) return false;
    const uint16_t flags = GetU16(h + 6);
    const uint32_t status = GetU32(h + 8);
    const uint32_t requestId = GetU32(h + 12);
    const uint32_t bodyLength = GetU32(h + 20);
    const uint32_t payloadLength = GetU32(h + 24);
    const uint32_t payloadCrc = GetU32(h + 28);
    if ((flags & ~kFlagHasPayload) != 0) return false;
    if ((flags & kFlagHasPayload) == 0 && (payloadLength != 0 || payloadCrc != 0)) return false;
    if (GetU16(h + 16) != kStorageService || GetU16(h + 18) != kReadMethod) return false;
    if (bodyLength > kBodyBytesMax || payloadLength > options_.readBytesMax) return false;
    const size_t total = kHeaderBytes + bodyLength + payloadLength;
    if (connection.inUsed - at < total) break;
    Finish(connection, requestId, status, h + kHeaderBytes, bodyLength, h + kHeaderBytes + bodyLength,
           payloadLength, payloadCrc);
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
