#include "request.h"

#include <sys/file.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "addon-data.h"
#include "directory-reply.h"
#include "js-values.h"
#include "session.h"

namespace fusebinding {
namespace {

/** The opcode's bit in a set of request opcodes (events, numbered from 100, have none). */
constexpr uint64_t Bit(Opcode op) {
  return static_cast<uint32_t>(op) < 64 ? uint64_t{1} << static_cast<uint32_t>(op) : 0;
}

// Which replies answer which requests (libfuse's "Valid replies" lists).
constexpr uint64_t kForgets = Bit(Opcode::Forget) | Bit(Opcode::ForgetMulti);
constexpr uint64_t kAllRequests = ~uint64_t{0} & ~kForgets & ~uint64_t{1};
constexpr uint64_t kZeroErrorAllowed =
    Bit(Opcode::Unlink) | Bit(Opcode::Rmdir) | Bit(Opcode::Rename) | Bit(Opcode::Flush) | Bit(Opcode::Release) |
    Bit(Opcode::Fsync) | Bit(Opcode::Releasedir) | Bit(Opcode::Fsyncdir) | Bit(Opcode::Setxattr) |
    Bit(Opcode::Removexattr) | Bit(Opcode::Access) | Bit(Opcode::Setlk) | Bit(Opcode::Flock) |
    Bit(Opcode::Fallocate);
constexpr uint64_t kEntryReplies =
    Bit(Opcode::Lookup) | Bit(Opcode::Mknod) | Bit(Opcode::Mkdir) | Bit(Opcode::Symlink) | Bit(Opcode::Link);
constexpr uint64_t kAttrReplies = Bit(Opcode::Getattr) | Bit(Opcode::Setattr);
constexpr uint64_t kOpenReplies = Bit(Opcode::Open) | Bit(Opcode::Opendir);
constexpr uint64_t kWriteReplies = Bit(Opcode::Write) | Bit(Opcode::CopyFileRange);
constexpr uint64_t kBufferReplies = Bit(Opcode::Read) | Bit(Opcode::Getxattr) | Bit(Opcode::Listxattr);
constexpr uint64_t kXattrReplies = Bit(Opcode::Getxattr) | Bit(Opcode::Listxattr);

// Bits of the open-reply flags argument (the TypeScript side uses the same values).
constexpr uint32_t kOpenDirectIo = 1;
constexpr uint32_t kOpenKeepCache = 2;
constexpr uint32_t kOpenNonSeekable = 4;
constexpr uint32_t kOpenCacheDirectory = 8;
constexpr uint32_t kOpenNoFlush = 16;
constexpr uint32_t kOpenAllFlags = 31;

// The kernel accepts error replies in (0, 512): larger values are kernel-internal restart codes.
constexpr uint32_t kErrnoMax = 511;

/** The handle being constructed: only RequestHandle::Create sets it, so JavaScript cannot. */
thread_local std::unique_ptr<Request>* tlIncoming = nullptr;

void FillOpenInfo(Napi::Env env, const Napi::Value& fh, const Napi::Value& flags, struct fuse_file_info* info) {
  std::memset(info, 0, sizeof(*info));
  info->fh = js::ToUint64(env, fh, "fh");
  uint32_t bits = js::ToUint32(env, flags, "open flags", kOpenAllFlags);
  info->direct_io = (bits & kOpenDirectIo) != 0;
  info->keep_cache = (bits & kOpenKeepCache) != 0;
  info->nonseekable = (bits & kOpenNonSeekable) != 0;
  info->cache_readdir = (bits & kOpenCacheDirectory) != 0;
  info->noflush = (bits & kOpenNoFlush) != 0;
}

void FillEntry(Napi::Env env, const Napi::CallbackInfo& info, size_t first, bool negativeAllowed,
               fuse_entry_param* entry) {
  std::memset(entry, 0, sizeof(*entry));
  entry->ino = js::ToUint64(env, info[first], "ino");
  entry->generation = js::ToUint64(env, info[first + 1], "generation");
  if (entry->ino == 0) {
    // A zero inode is a negative entry: "this name does not exist", cached for entry_timeout.
    if (!negativeAllowed) js::ThrowInvalid(env, "ino 0 (a negative entry) answers only lookup");
  } else {
    js::ToStat(env, info[first + 2], entry->ino, &entry->attr);
  }
  entry->attr_timeout = js::ToTimeoutSeconds(env, info[first + 3], "attrTimeoutMs");
  entry->entry_timeout = js::ToTimeoutSeconds(env, info[first + 4], "entryTimeoutMs");
}

/** Bytes of a Uint8Array (Buffer included); throws for anything else. */
Napi::Uint8Array ToBytes(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    js::ThrowInvalid(env, std::string(what) + " must be a Uint8Array or Buffer");
  }
  return value.As<Napi::Uint8Array>();
}

}  // namespace

bool OwnedBytes::Allocate(size_t size) {
  std::free(base);
  base = static_cast<char*>(std::malloc(size == 0 ? 1 : size));
  data = base;
  length = base == nullptr ? 0 : size;
  allocation = base == nullptr ? 0 : size;
  return base != nullptr;
}

Napi::Function RequestHandle::Define(Napi::Env env) {
  return DefineClass(env, "FuseRequest",
                     {
                         InstanceAccessor<&RequestHandle::GetId>("id"),
                         InstanceMethod<&RequestHandle::IsInterrupted>("interrupted"),
                         InstanceMethod<&RequestHandle::IsAnswered>("answered"),
                         InstanceMethod<&RequestHandle::Groups>("groups"),
                         InstanceMethod<&RequestHandle::ReplyErr>("replyErr"),
                         InstanceMethod<&RequestHandle::ReplyOk>("replyOk"),
                         InstanceMethod<&RequestHandle::ReplyNone>("replyNone"),
                         InstanceMethod<&RequestHandle::ReplyEntry>("replyEntry"),
                         InstanceMethod<&RequestHandle::ReplyCreate>("replyCreate"),
                         InstanceMethod<&RequestHandle::ReplyAttr>("replyAttr"),
                         InstanceMethod<&RequestHandle::ReplyReadlink>("replyReadlink"),
                         InstanceMethod<&RequestHandle::ReplyOpen>("replyOpen"),
                         InstanceMethod<&RequestHandle::ReplyWrite>("replyWrite"),
                         InstanceMethod<&RequestHandle::ReplyBuffer>("replyBuffer"),
                         InstanceMethod<&RequestHandle::ReplyXattrSize>("replyXattrSize"),
                         InstanceMethod<&RequestHandle::ReplyStatfs>("replyStatfs"),
                         InstanceMethod<&RequestHandle::ReplyLock>("replyLock"),
                         InstanceMethod<&RequestHandle::ReplyLseek>("replyLseek"),
                         InstanceMethod<&RequestHandle::AddDirentry>("addDirentry"),
                         InstanceMethod<&RequestHandle::AddDirentryPlus>("addDirentryPlus"),
                         InstanceMethod<&RequestHandle::ReplyDirectory>("replyDirectory"),
                         InstanceMethod<&RequestHandle::DirectoryBytes>("directoryBytes"),
                     });
}

Napi::Object RequestHandle::Create(Napi::Env env, std::unique_ptr<Request> request) {
  auto* data = env.GetInstanceData<AddonData>();
  struct Reset {
    ~Reset() { tlIncoming = nullptr; }
  } reset;
  tlIncoming = &request;
  return data->requestConstructor.New({});
}

RequestHandle::RequestHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RequestHandle>(info) {
  if (tlIncoming == nullptr || !*tlIncoming) {
    js::ThrowWithCode(info.Env(), "ERR_FUSE_CONSTRUCTOR", "FuseRequest objects are created by a FUSE session only");
  }
  request_ = std::move(*tlIncoming);
  tlIncoming = nullptr;
}

RequestHandle::~RequestHandle() {
  // JavaScript dropped the request unanswered (a bug in the caller): answer EIO rather than leave
  // a process blocked in a system call forever.
  if (request_ && request_->req != nullptr && request_->state == RequestState::Delivered) {
    request_->session->AnswerWithError(*request_, EIO);
  }
}

Request& RequestHandle::Expect(const Napi::CallbackInfo& info, const char* reply, uint64_t allowedOps) {
  Napi::Env env = info.Env();
  Request& request = *request_;
  const char* opName = OpcodeName(request.op);
  if (request.state == RequestState::Answered) {
    js::ThrowWithCode(env, "ERR_FUSE_ALREADY_ANSWERED",
                      std::string(reply) + ": the " + opName + " request was already answered");
  }
  if (request.state == RequestState::Aborted || request.req == nullptr) {
    js::ThrowWithCode(env, "ERR_FUSE_SESSION_CLOSED",
                      std::string(reply) + ": the " + opName + " request was answered by session teardown");
  }
  if ((allowedOps & Bit(request.op)) == 0) {
    js::ThrowInvalid(env, std::string(reply) + " does not answer a " + opName + " request");
  }
  return request;
}

Napi::Value RequestHandle::Finish(Napi::Env env, int sent) {
  // -ENOENT: the kernel no longer waits for this answer (the caller was interrupted).
  return Napi::Boolean::New(env, sent == 0);
}

/** Removes the request from the session's books and returns the fuse_req_t to answer. */
static fuse_req_t Take(Request& request) {
  fuse_req_t req = request.req;
  request.session->Complete(request);
  request.state = RequestState::Answered;
  request.data.Clear();
  std::vector<char>().swap(request.directory);
  return req;
}

Napi::Value RequestHandle::GetId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(request_->id));
}

Napi::Value RequestHandle::IsInterrupted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), request_->interrupted.load());
}

Napi::Value RequestHandle::IsAnswered(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), request_->req == nullptr);
}

Napi::Value RequestHandle::Groups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "groups", kAllRequests | kForgets);
  // libfuse reads them from /proc/<tid>/status of the caller, which is only meaningful while the
  // caller still waits for this request.
  int count = fuse_req_getgroups(request.req, 0, nullptr);
  if (count < 0) return env.Undefined();
  std::vector<gid_t> groups(static_cast<size_t>(count) + 1);
  int filled = fuse_req_getgroups(request.req, static_cast<int>(groups.size()), groups.data());
  if (filled < 0) return env.Undefined();
  size_t total = std::min(static_cast<size_t>(filled), groups.size());
  Napi::Array result = Napi::Array::New(env, total);
  for (size_t i = 0; i < total; ++i) result.Set(static_cast<uint32_t>(i), Napi::Number::New(env, groups[i]));
  return result;
}

Napi::Value RequestHandle::ReplyErr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyErr", kAllRequests);
  uint32_t error = js::ToUint32(env, info[0], "errno", kErrnoMax);
  if (error == 0) js::ThrowInvalid(env, "replyErr takes a positive errno; replyOk answers success");
  return Finish(env, fuse_reply_err(Take(request), static_cast<int>(error)));
}

Napi::Value RequestHandle::ReplyOk(const Napi::CallbackInfo& info) {
  Request& request = Expect(info, "replyOk", kZeroErrorAllowed);
  return Finish(info.Env(), fuse_reply_err(Take(request), 0));
}

Napi::Value RequestHandle::ReplyNone(const Napi::CallbackInfo& info) {
  Request& request = Expect(info, "replyNone", kForgets);
  fuse_reply_none(Take(request));
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value RequestHandle::ReplyEntry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyEntry", kEntryReplies);
  fuse_entry_param entry;
  FillEntry(env, info, 0, request.op == Opcode::Lookup, &entry);
  return Finish(env, fuse_reply_entry(Take(request), &entry));
}

Napi::Value RequestHandle::ReplyCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyCreate", Bit(Opcode::Create));
  fuse_entry_param entry;
  FillEntry(env, info, 0, false, &entry);
  struct fuse_file_info open;
  FillOpenInfo(env, info[5], info[6], &open);
  open.flags = static_cast<int>(request.flags);
  std::shared_ptr<SessionCore> session = request.session;
  // Known before the kernel can name the handle in a request (see SessionCore::FileOpened).
  session->FileOpened(open.fh, entry.ino);
  const bool sent = fuse_reply_create(Take(request), &entry, &open) == 0;
  if (!sent) session->FileReleased(open.fh);
  return Napi::Boolean::New(env, sent);
}

Napi::Value RequestHandle::ReplyAttr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyAttr", kAttrReplies);
  struct stat attr;
  js::ToStat(env, info[0], request.ino, &attr);
  double timeout = js::ToTimeoutSeconds(env, info[1], "attrTimeoutMs");
  return Finish(env, fuse_reply_attr(Take(request), &attr, timeout));
}

Napi::Value RequestHandle::ReplyReadlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyReadlink", Bit(Opcode::Readlink));
  std::string target = js::ToText(env, info[0], "symlink target", PATH_MAX - 1);
  if (target.empty()) js::ThrowInvalid(env, "symlink target must not be empty");
  return Finish(env, fuse_reply_readlink(Take(request), target.c_str()));
}

Napi::Value RequestHandle::ReplyOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyOpen", kOpenReplies);
  struct fuse_file_info open;
  FillOpenInfo(env, info[0], info[1], &open);
  open.flags = static_cast<int>(request.flags);
  if (request.op != Opcode::Open) return Finish(env, fuse_reply_open(Take(request), &open));
  std::shared_ptr<SessionCore> session = request.session;
  const fuse_ino_t ino = request.ino;
  // Known before the kernel can name the handle in a request (see SessionCore::FileOpened).
  session->FileOpened(open.fh, ino);
  const bool sent = fuse_reply_open(Take(request), &open) == 0;
  if (!sent) session->FileReleased(open.fh);
  return Napi::Boolean::New(env, sent);
}

Napi::Value RequestHandle::ReplyWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyWrite", kWriteReplies);
  // Never more than the write carried (or copy_file_range asked for): the kernel would refuse it.
  uint64_t count = js::ToUint64(env, info[0], "bytes written", request.length);
  return Finish(env, fuse_reply_write(Take(request), static_cast<size_t>(count)));
}

Napi::Value RequestHandle::ReplyBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyBuffer", kBufferReplies);
  Napi::Uint8Array bytes = ToBytes(env, info[0], "data");
  if ((kXattrReplies & Bit(request.op)) != 0 && request.length == 0) {
    js::ThrowInvalid(env, "a size query (size 0) is answered with replyXattrSize");
  }
  // The kernel sized its buffer for `length` bytes; more would be refused and the caller get EIO.
  if (bytes.ByteLength() > request.length) {
    js::ThrowInvalid(env, "data is " + std::to_string(bytes.ByteLength()) + " bytes, more than the " +
                              std::to_string(request.length) + " requested");
  }
  // Sent straight from JavaScript's memory: the kernel's copy is the only one.
  const char* start = reinterpret_cast<const char*>(bytes.Data());
  return Finish(env, fuse_reply_buf(Take(request), start, bytes.ByteLength()));
}

Napi::Value RequestHandle::ReplyXattrSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyXattrSize", kXattrReplies);
  if (request.length != 0) js::ThrowInvalid(env, "replyXattrSize answers only a size query (size 0)");
  uint32_t size = js::ToUint32(env, info[0], "xattr size");
  return Finish(env, fuse_reply_xattr(Take(request), size));
}

Napi::Value RequestHandle::ReplyStatfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyStatfs", Bit(Opcode::Statfs));
  struct statvfs stat;
  js::ToStatvfs(env, info[0], &stat);
  return Finish(env, fuse_reply_statfs(Take(request), &stat));
}

Napi::Value RequestHandle::ReplyLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyLock", Bit(Opcode::Getlk));
  struct flock lock;
  std::memset(&lock, 0, sizeof(lock));
  uint32_t type = js::ToUint32(env, info[0], "lock type");
  if (type != F_RDLCK && type != F_WRLCK && type != F_UNLCK) js::ThrowInvalid(env, "lock type must be F_RDLCK, F_WRLCK or F_UNLCK");
  lock.l_type = static_cast<short>(type);
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(js::ToUint64(env, info[1], "lock start", INT64_MAX));
  lock.l_len = static_cast<off_t>(js::ToUint64(env, info[2], "lock length", INT64_MAX));
  lock.l_pid = static_cast<pid_t>(js::ToUint32(env, info[3], "lock pid", INT32_MAX));
  return Finish(env, fuse_reply_lock(Take(request), &lock));
}

Napi::Value RequestHandle::ReplyLseek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyLseek", Bit(Opcode::Lseek));
  uint64_t offset = js::ToUint64(env, info[0], "offset", INT64_MAX);
  return Finish(env, fuse_reply_lseek(Take(request), static_cast<off_t>(offset)));
}

bool RequestHandle::AppendDirectoryEntry(Request& request, const std::string& name, const struct stat& attr,
                                         const fuse_entry_param* entry, uint64_t nextOffset) {
  if (request.directory.empty()) request.directory.resize(request.length);
  size_t free = request.directory.size() - request.directoryUsed;
  off_t next = static_cast<off_t>(nextOffset);
  // Asked with a zero-sized buffer, libfuse reports the entry's size without writing it.
  size_t needed = entry != nullptr ? fuse_add_direntry_plus(request.req, nullptr, 0, name.c_str(), entry, next)
                                   : fuse_add_direntry(request.req, nullptr, 0, name.c_str(), &attr, next);
  if (needed > free) return false;
  char* at = request.directory.data() + request.directoryUsed;
  if (entry != nullptr) {
    fuse_add_direntry_plus(request.req, at, free, name.c_str(), entry, next);
  } else {
    fuse_add_direntry(request.req, at, free, name.c_str(), &attr, next);
  }
  request.directoryUsed += needed;
  return true;
}

namespace {

/** The arguments every directory entry has: name, nextOffset, ino, mode (type bits). */
struct DirectoryEntryBase {
  std::string name;
  uint64_t nextOffset;
  uint64_t ino;
  uint32_t mode;
};

DirectoryEntryBase ToDirectoryEntry(Napi::Env env, const Napi::CallbackInfo& info) {
  DirectoryEntryBase entry;
  entry.name = js::ToName(env, info[0], "entry name");
  entry.nextOffset = js::ToUint64(env, info[1], "entry nextOffset", INT64_MAX);
  if (entry.nextOffset == 0) js::ThrowInvalid(env, "entry nextOffset must not be 0 (0 means the start of the directory)");
  entry.ino = js::ToUint64(env, info[2], "entry ino");
  entry.mode = js::ToUint32(env, info[3], "entry mode", 0xFFFF);
  return entry;
}

}  // namespace

Napi::Value RequestHandle::AddDirentry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "addDirentry", Bit(Opcode::Readdir));
  DirectoryEntryBase base = ToDirectoryEntry(env, info);
  struct stat attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.st_ino = base.ino;
  attr.st_mode = base.mode;
  return Napi::Boolean::New(env, AppendDirectoryEntry(request, base.name, attr, nullptr, base.nextOffset));
}

Napi::Value RequestHandle::AddDirentryPlus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "addDirentryPlus", Bit(Opcode::Readdirplus));
  DirectoryEntryBase base = ToDirectoryEntry(env, info);
  fuse_entry_param entry;
  std::memset(&entry, 0, sizeof(entry));
  if (info[5].IsUndefined()) {
    // No attributes: node id 0 tells the kernel not to instantiate the entry, so it takes no
    // lookup reference (as the kernel does for "." and "..").
    entry.attr.st_ino = base.ino;
    entry.attr.st_mode = base.mode;
  } else {
    if (base.ino == 0) js::ThrowInvalid(env, "an entry with attributes needs a non-zero ino");
    entry.ino = base.ino;
    entry.generation = js::ToUint64(env, info[4], "generation");
    js::ToStat(env, info[5], base.ino, &entry.attr);
    entry.attr_timeout = js::ToTimeoutSeconds(env, info[6], "attrTimeoutMs");
    entry.entry_timeout = js::ToTimeoutSeconds(env, info[7], "entryTimeoutMs");
  }
  return Napi::Boolean::New(env, AppendDirectoryEntry(request, base.name, entry.attr, &entry, base.nextOffset));
}

Napi::Value RequestHandle::ReplyDirectory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request& request = Expect(info, "replyDirectory", Bit(Opcode::Readdir) | Bit(Opcode::Readdirplus));
  if (info.Length() == 0 || info[0].IsUndefined()) {
    // The entries addDirentry and addDirentryPlus assembled (possibly none: the end of the listing).
    std::vector<char> entries;
    entries.swap(request.directory);
    size_t used = request.directoryUsed;
    return Finish(env, fuse_reply_buf(Take(request), entries.data(), used));
  }
  Napi::Uint8Array bytes = ToBytes(env, info[0], "directory entries");
  // The kernel sized its buffer for `length` bytes; more would be refused and the caller get EIO.
  if (bytes.ByteLength() > request.length) {
    js::ThrowInvalid(env, "directory entries are " + std::to_string(bytes.ByteLength()) + " bytes, more than the " +
                              std::to_string(request.length) + " requested");
  }
  const uint8_t* start = bytes.Data();
  std::string problem = CheckDirectoryReply(start, bytes.ByteLength(), request.op == Opcode::Readdirplus);
  if (!problem.empty()) js::ThrowInvalid(env, problem);
  // Sent straight from JavaScript's memory: the kernel's copy is the only one.
  return Finish(env, fuse_reply_buf(Take(request), reinterpret_cast<const char*>(start), bytes.ByteLength()));
}

Napi::Value RequestHandle::DirectoryBytes(const Napi::CallbackInfo& info) {
  Request& request = Expect(info, "directoryBytes", Bit(Opcode::Readdir) | Bit(Opcode::Readdirplus));
  return Napi::Buffer<char>::Copy(info.Env(), request.directory.data(), request.directoryUsed);
}

}  // namespace fusebinding
