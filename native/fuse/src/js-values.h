// Conversions between JavaScript values and the C types libfuse takes, with validation: every value
// from JavaScript is checked here (type, range, forbidden bytes) before it can reach libfuse, and a
// bad one throws a TypeError whose `code` is ERR_FUSE_INVALID_REPLY.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <string>

#include <napi.h>

#include "fuse-api.h"

namespace fusebinding::js {

/** Throws a TypeError with code ERR_FUSE_INVALID_REPLY. */
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message);
/** Throws an Error with the given code. */
[[noreturn]] void ThrowWithCode(Napi::Env env, const char* code, const std::string& message);

/** A bigint, or a number that is a safe integer, in [0, max]. */
uint64_t ToUint64(Napi::Env env, const Napi::Value& value, const char* what, uint64_t max = UINT64_MAX);
/** A number that is an integer in [0, max]. */
uint32_t ToUint32(Napi::Env env, const Napi::Value& value, const char* what, uint32_t max = UINT32_MAX);
/** A finite, non-negative number of milliseconds, returned in seconds (libfuse's unit). */
double ToTimeoutSeconds(Napi::Env env, const Napi::Value& value, const char* what);
/** A boolean. */
bool ToBool(Napi::Env env, const Napi::Value& value, const char* what);
/** A directory entry name: non-empty, at most 255 bytes of UTF-8, without '/' or NUL. */
std::string ToName(Napi::Env env, const Napi::Value& value, const char* what);
/** A string without NUL of at most `maxBytes` bytes of UTF-8 (symlink targets, option values). */
std::string ToText(Napi::Env env, const Napi::Value& value, const char* what, size_t maxBytes);

/** File attributes from an Attributes object; `ino` becomes st_ino. */
void ToStat(Napi::Env env, const Napi::Value& value, fuse_ino_t ino, struct stat* out);
/** File system statistics from a StatfsReply object. */
void ToStatvfs(Napi::Env env, const Napi::Value& value, struct statvfs* out);

/** True when `bytes` is well-formed UTF-8 (names from the kernel are bytes; JavaScript has strings). */
bool IsUtf8(const char* bytes, size_t length);

/** A timespec as nanoseconds since the epoch. */
Napi::BigInt FromTimespec(Napi::Env env, const struct timespec& time);

}  // namespace fusebinding::js
