// Numbers of the requests and events this addon hands to JavaScript. The TypeScript side keeps the
// same table (src/fuse/lowlevel/opcodes.ts) and checks it against `binding.opcodes` when it loads,
// so a mismatch fails at start-up rather than misrouting requests.
#pragma once

#include <cstdint>

namespace fusebinding {

enum class Opcode : uint32_t {
  // Requests from the kernel: each must be answered exactly once (forgets with "none").
  Lookup = 1,
  Forget = 2,
  ForgetMulti = 3,
  Getattr = 4,
  Setattr = 5,
  Readlink = 6,
  Mknod = 7,
  Mkdir = 8,
  Unlink = 9,
  Rmdir = 10,
  Symlink = 11,
  Rename = 12,
  Link = 13,
  Open = 14,
  Read = 15,
  Write = 16,
  Flush = 17,
  Release = 18,
  Fsync = 19,
  Opendir = 20,
  Readdir = 21,
  Readdirplus = 22,
  Releasedir = 23,
  Fsyncdir = 24,
  Statfs = 25,
  Setxattr = 26,
  Getxattr = 27,
  Listxattr = 28,
  Removexattr = 29,
  Access = 30,
  Create = 31,
  Getlk = 32,
  Setlk = 33,
  Flock = 34,
  Fallocate = 35,
  CopyFileRange = 36,
  Lseek = 37,
  // Events: no request handle, nothing to answer.
  InitEvent = 100,
  InterruptEvent = 101,
  EndedEvent = 102,
};

/** True for opcodes that are events rather than requests. */
inline bool IsEvent(Opcode op) { return static_cast<uint32_t>(op) >= 100; }

/** The name JavaScript uses for each opcode (the key of FuseOperations), or nullptr. */
const char* OpcodeName(Opcode op);

}  // namespace fusebinding
