// The RPC frame (src/rpc/frame.ts) and the few msgpack forms the native read path speaks
// (src/rpc/body-codec.ts), and the take-over of a socket JavaScript authenticated, shared by the
// addons that answer or send Storage.read without JavaScript. Header-only. Readers here never read past the bytes they are given: a value of an
// unexpected type or length is refused (false), never guessed at.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace frame_codec {

/**
 * A duplicate of the connected socket `fd` (close-on-exec, non-blocking, TCP_NODELAY) that this
 * side now owns, whatever its JavaScript owner does with `fd`; or -errno.
 */
inline int TakeOverSocket(int fd) {
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
  return own;
}

/**
 * A poll handle of `fd` on `loop`, with `data`, that does not by itself keep the process alive;
 * null when libuv refuses the descriptor. Freed with uv_close and delete.
 */
inline uv_poll_t* NewSocketPoll(uv_loop_t* loop, int fd, void* data) {
  auto* poll = new uv_poll_t;
  if (uv_poll_init(loop, poll, fd) != 0) {
    delete poll;
    return nullptr;
  }
  poll->data = data;
  uv_unref(reinterpret_cast<uv_handle_t*>(poll));
  return poll;
}

constexpr uint32_t kMagic = 0x33465352;  // "3FSR"
constexpr uint8_t kVersion = 1;
constexpr uint8_t kKindRequest = 1;
constexpr uint8_t kKindResponse = 2;
constexpr uint16_t kFlagHasPayload = 1;
constexpr size_t kHeaderBytes = 32;
// Storage.read (src/storage/protocol/methods.ts).
constexpr uint16_t kStorageService = 3;
constexpr uint16_t kReadMethod = 3;

inline void PutU16(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

inline void PutU32(std::string& out, uint32_t value) {
  PutU16(out, static_cast<uint16_t>(value >> 16));
  PutU16(out, static_cast<uint16_t>(value));
}

inline void PutU64(std::string& out, uint64_t value) {
  PutU32(out, static_cast<uint32_t>(value >> 32));
  PutU32(out, static_cast<uint32_t>(value));
}

inline uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

inline uint32_t GetU32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

/** A frame header's fields. */
struct Header {
  uint8_t kind = 0;
  uint16_t flags = 0;
  uint32_t status = 0;
  uint32_t requestId = 0;
  uint16_t serviceId = 0;
  uint16_t methodId = 0;
  uint32_t bodyLength = 0;
  uint32_t payloadLength = 0;
  uint32_t payloadCrc = 0;
};

inline void PutHeader(std::string& out, const Header& h) {
  PutU32(out, kMagic);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(h.kind));
  PutU16(out, h.flags);
  PutU32(out, h.status);
  PutU32(out, h.requestId);
  PutU16(out, h.serviceId);
  PutU16(out, h.methodId);
  PutU32(out, h.bodyLength);
  PutU32(out, h.payloadLength);
  PutU32(out, h.payloadCrc);
}

/**
 * Reads the 32 bytes at `p`: false unless they carry our magic and version, only known flags, and
 * no payload fields without the payload flag (what decodeHeader in frame.ts checks).
 */
inline bool GetHeader(const uint8_t* p, Header* h) {
  if (GetU32(p) != kMagic || p[4] != kVersion) return false;
  h->kind = p[5];
  h->flags = GetU16(p + 6);
  h->status = GetU32(p + 8);
  h->requestId = GetU32(p + 12);
  h->serviceId = GetU16(p + 16);
  h->methodId = GetU16(p + 18);
  h->bodyLength = GetU32(p + 20);
  h->payloadLength = GetU32(p + 24);
  h->payloadCrc = GetU32(p + 28);
  if ((h->flags & ~kFlagHasPayload) != 0) return false;
  if ((h->flags & kFlagHasPayload) == 0 && (h->payloadLength != 0 || h->payloadCrc != 0)) return false;
  return true;
}

/** A msgpack map header for up to 15 entries. */
inline void PutMap(std::string& out, size_t entries) { out.push_back(static_cast<char>(0x80 | entries)); }

/** A msgpack string of at most 31 bytes (every key here). */
inline void PutKey(std::string& out, const char* key) {
  size_t length = std::strlen(key);
  out.push_back(static_cast<char>(0xa0 | length));
  out.append(key, length);
}

/** A msgpack string of any length up to 2^32 - 1 bytes. */
inline void PutString(std::string& out, const std::string& text) {
  if (text.size() < 32) {
    out.push_back(static_cast<char>(0xa0 | text.size()));
  } else if (text.size() <= 0xff) {
    out.push_back(static_cast<char>(0xd9));
    out.push_back(static_cast<char>(text.size()));
  } else if (text.size() <= 0xffff) {
    out.push_back(static_cast<char>(0xda));
    PutU16(out, static_cast<uint16_t>(text.size()));
  } else {
    out.push_back(static_cast<char>(0xdb));
    PutU32(out, static_cast<uint32_t>(text.size()));
  }
  out.append(text);
}

/** A msgpack unsigned integer in its shortest form, as the TypeScript encoder writes it. */
inline void PutUint(std::string& out, uint64_t value) {
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

inline void PutBool(std::string& out, bool value) { out.push_back(static_cast<char>(value ? 0xc3 : 0xc2)); }

/** A bigint as body-codec.ts writes one in 0..2^64-1: extension type 0, 8 bytes big-endian. */
inline void PutBigUint(std::string& out, uint64_t value) {
  out.push_back(static_cast<char>(0xd7));
  out.push_back(0);
  PutU64(out, value);
}

/** Reads msgpack values from a byte range; every method returns false instead of reading past it. */
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ == size_; }

  /** A map header (fixmap, map16); `entries` its entry count. */
  bool Map(size_t* entries) {
    if (at_ >= size_) return false;
    uint8_t type = data_[at_];
    if ((type & 0xf0) == 0x80) {
      ++at_;
      *entries = type & 0x0f;
      return true;
    }
    if (type == 0xde && size_ - at_ >= 3) {
      *entries = GetU16(data_ + at_ + 1);
      at_ += 3;
      return true;
    }
    return false;
  }

  /** A string of at most 255 bytes (fixstr, str8), as a key is. */
  bool Key(std::string* key) {
    if (at_ >= size_) return false;
    uint8_t type = data_[at_];
    size_t length = 0;
    if ((type & 0xe0) == 0xa0) {
      length = type & 0x1f;
      ++at_;
    } else if (type == 0xd9 && size_ - at_ >= 2) {
      length = data_[at_ + 1];
      at_ += 2;
    } else {
      return false;
    }
    if (size_ - at_ < length) return false;
    key->assign(reinterpret_cast<const char*>(data_ + at_), length);
    at_ += length;
    return true;
  }

  /** An unsigned integer (positive fixint, uint8..uint64). */
  bool Uint(uint64_t* value) {
    if (at_ >= size_) return false;
    uint8_t type = data_[at_];
    if (type <= 0x7f) {
      ++at_;
      *value = type;
      return true;
    }
    size_t bytes = 0;
    switch (type) {
      case 0xcc: bytes = 1; break;
      case 0xcd: bytes = 2; break;
      case 0xce: bytes = 4; break;
      case 0xcf: bytes = 8; break;
      default: return false;
    }
    if (size_ - at_ < 1 + bytes) return false;
    uint64_t result = 0;
    for (size_t i = 1; i <= bytes; ++i) result = (result << 8) | data_[at_ + i];
    at_ += 1 + bytes;
    *value = result;
    return true;
  }

  bool Bool(bool* value) {
    if (at_ >= size_ || (data_[at_] != 0xc2 && data_[at_] != 0xc3)) return false;
    *value = data_[at_++] == 0xc3;
    return true;
  }

  /** A bigint of 0..2^64-1 (extension type 0 of 8 bytes). */
  bool BigUint(uint64_t* value) {
    if (size_ - at_ < 10 || data_[at_] != 0xd7 || data_[at_ + 1] != 0) return false;
    uint64_t result = 0;
    for (size_t i = 2; i < 10; ++i) result = (result << 8) | data_[at_ + i];
    at_ += 10;
    *value = result;
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace frame_codec
