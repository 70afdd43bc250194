#include "js-values.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace fusebinding::js {
namespace {

constexpr double kSafeIntegerMax = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER
constexpr int64_t kNanosPerSecond = 1000000000;
// A day in milliseconds times ten thousand years: longer timeouts are certainly a mistake.
constexpr double kTimeoutMsMax = 86400000.0 * 365.0 * 10000.0;

Napi::Value Field(const Napi::Object& object, const char* name) { return object.Get(name); }

uint32_t RequiredUint32(Napi::Env env, const Napi::Object& object, const char* name,
                        uint32_t max = UINT32_MAX) {
  return ToUint32(env, Field(object, name), name, max);
}

uint32_t OptionalUint32(Napi::Env env, const Napi::Object& object, const char* name, uint32_t fallback) {
  Napi::Value value = Field(object, name);
  if (value.IsUndefined()) return fallback;
  return ToUint32(env, value, name);
}

uint64_t OptionalUint64(Napi::Env env, const Napi::Object& object, const char* name, uint64_t fallback,
                        uint64_t max = UINT64_MAX) {
  Napi::Value value = Field(object, name);
  if (value.IsUndefined()) return fallback;
  return ToUint64(env, value, name, max);
}

struct timespec ToTimespec(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsBigInt()) ThrowInvalid(env, std::string(what) + " must be a bigint (nanoseconds since the epoch)");
  bool lossless = false;
  int64_t nanos = value.As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) ThrowInvalid(env, std::string(what) + " is out of range");
  // Floor division, so times before 1970 keep a non-negative tv_nsec as the kernel expects.
  int64_t seconds = nanos / kNanosPerSecond;
  int64_t rest = nanos % kNanosPerSecond;
  if (rest < 0) {
    rest += kNanosPerSecond;
    seconds -= 1;
  }
  struct timespec time {};
  time.tv_sec = static_cast<time_t>(seconds);
  time.tv_nsec = static_cast<long>(rest);
  return time;
}

bool IsKnownFileType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      return true;
    default:
      return false;
  }
}

}  // namespace

void ThrowInvalid(Napi::Env env, const std::string& message) {
  ThrowWithCode(env, "ERR_FUSE_INVALID_REPLY", message);
}

void ThrowWithCode(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = std::strcmp(code, "ERR_FUSE_INVALID_REPLY") == 0 ? Napi::TypeError::New(env, message)
                                                                       : Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

uint64_t ToUint64(Napi::Env env, const Napi::Value& value, const char* what, uint64_t max) {
  uint64_t result = 0;
  if (value.IsBigInt()) {
    bool lossless = false;
    // Uint64Value of a negative bigint wraps around and reports the loss.
    result = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowInvalid(env, std::string(what) + " must be a non-negative 64-bit integer");
  } else if (value.IsNumber()) {
    double number = value.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(number) || number < 0 || number > kSafeIntegerMax || std::floor(number) != number) {
      ThrowInvalid(env, std::string(what) + " must be a non-negative safe integer or a bigint");
    }
    result = static_cast<uint64_t>(number);
  } else {
    ThrowInvalid(env, std::string(what) + " must be a bigint or a number");
  }
  if (result > max) ThrowInvalid(env, std::string(what) + " is too large");
  return result;
}

uint32_t ToUint32(Napi::Env env, const Napi::Value& value, const char* what, uint32_t max) {
  if (!value.IsNumber()) ThrowInvalid(env, std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number < 0 || number > static_cast<double>(max) || std::floor(number) != number) {
    ThrowInvalid(env, std::string(what) + " must be an integer between 0 and " + std::to_string(max));
  }
  return static_cast<uint32_t>(number);
}

double ToTimeoutSeconds(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) ThrowInvalid(env, std::string(what) + " must be a number of milliseconds");
  double ms = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(ms) || ms < 0 || ms > kTimeoutMsMax) {
    ThrowInvalid(env, std::string(what) + " must be a finite, non-negative number of milliseconds");
  }
  return ms / 1000.0;
}

bool ToBool(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsBoolean()) ThrowInvalid(env, std::string(what) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::string ToText(Napi::Env env, const Napi::Value& value, const char* what, size_t maxBytes) {
  if (!value.IsString()) ThrowInvalid(env, std::string(what) + " must be a string");
  std::string text = value.As<Napi::String>().Utf8Value();
  if (text.size() > maxBytes) ThrowInvalid(env, std::string(what) + " is longer than " + std::to_string(maxBytes) + " bytes");
  if (text.find('\0') != std::string::npos) ThrowInvalid(env, std::string(what) + " must not contain NUL");
  return text;
}

std::string ToName(Napi::Env env, const Napi::Value& value, const char* what) {
  std::string name = ToText(env, value, what, 255);
  if (name.empty()) ThrowInvalid(env, std::string(what) + " must not be empty");
  if (name.find('/') != std::string::npos) ThrowInvalid(env, std::string(what) + " must not contain '/'");
  return name;
}

void ToStat(Napi::Env env, const Napi::Value& value, fuse_ino_t ino, struct stat* out) {
  if (!value.IsObject()) ThrowInvalid(env, "attributes must be an object");
  Napi::Object attr = value.As<Napi::Object>();
  std::memset(out, 0, sizeof(*out));
  out->st_ino = ino;
  out->st_mode = RequiredUint32(env, attr, "mode");
  if (!IsKnownFileType(out->st_mode)) ThrowInvalid(env, "attributes.mode must include a file type (S_IFREG, S_IFDIR, ...)");
  out->st_nlink = RequiredUint32(env, attr, "nlink");
  out->st_uid = RequiredUint32(env, attr, "uid");
  out->st_gid = RequiredUint32(env, attr, "gid");
  out->st_rdev = OptionalUint32(env, attr, "rdev", 0);
  uint64_t size = ToUint64(env, Field(attr, "size"), "size", static_cast<uint64_t>(INT64_MAX));
  out->st_size = static_cast<off_t>(size);
  out->st_blksize = OptionalUint32(env, attr, "blksize", 4096);
  out->st_blocks = static_cast<blkcnt_t>(OptionalUint64(env, attr, "blocks", (size + 511) / 512, INT64_MAX));
  out->st_atim = ToTimespec(env, Field(attr, "atimeNs"), "atimeNs");
  out->st_mtim = ToTimespec(env, Field(attr, "mtimeNs"), "mtimeNs");
  out->st_ctim = ToTimespec(env, Field(attr, "ctimeNs"), "ctimeNs");
}

void ToStatvfs(Napi::Env env, const Napi::Value& value, struct statvfs* out) {
  if (!value.IsObject()) ThrowInvalid(env, "statfs reply must be an object");
  Napi::Object stat = value.As<Napi::Object>();
  std::memset(out, 0, sizeof(*out));
  out->f_bsize = RequiredUint32(env, stat, "blockSize");
  out->f_frsize = OptionalUint32(env, stat, "fragmentSize", static_cast<uint32_t>(out->f_bsize));
  out->f_blocks = ToUint64(env, Field(stat, "blocks"), "blocks");
  out->f_bfree = ToUint64(env, Field(stat, "blocksFree"), "blocksFree");
  out->f_bavail = OptionalUint64(env, stat, "blocksAvailable", out->f_bfree);
  out->f_files = ToUint64(env, Field(stat, "files"), "files");
  out->f_ffree = ToUint64(env, Field(stat, "filesFree"), "filesFree");
  out->f_favail = OptionalUint64(env, stat, "filesAvailable", out->f_ffree);
  out->f_namemax = OptionalUint32(env, stat, "nameMax", 255);
}

bool IsUtf8(const char* bytes, size_t length) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes);
  size_t i = 0;
  while (i < length) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i += 1;
      continue;
    }
    size_t extra = 0;
    uint32_t codepoint = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      codepoint = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      codepoint = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      codepoint = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= length) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      codepoint = (codepoint << 6) | (s[i + k] & 0x3F);
    }
    // Overlong encodings, surrogates and code points past U+10FFFF are not UTF-8.
    static const uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (codepoint < kMinimum[extra] || codepoint > 0x10FFFF || (codepoint >= 0xD800 && codepoint <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Napi::BigInt FromTimespec(Napi::Env env, const struct timespec& time) {
  int64_t nanos = static_cast<int64_t>(time.tv_sec) * kNanosPerSecond + time.tv_nsec;
  return Napi::BigInt::New(env, nanos);
}

}  // namespace fusebinding::js
