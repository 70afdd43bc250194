#include "operations.h"

#include <sys/file.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <set>

#include "js-values.h"
#include "request.h"
#include "session.h"

namespace fusebinding {
namespace {

SessionCore* Core(fuse_req_t req) { return static_cast<SessionCore*>(fuse_req_userdata(req)); }

bool IsForget(Opcode op) { return op == Opcode::Forget || op == Opcode::ForgetMulti; }

/**
 * Builds a Request for `op`, lets `fill` copy the callback's arguments into it, and queues it.
 * `fill` returns 0, or an errno to answer at once (a name JavaScript cannot represent). No
 * exception may escape into libfuse's C code, so allocation failures become ENOMEM here.
 */
template <typename Fill>
void Handle(fuse_req_t req, Opcode op, fuse_ino_t ino, Fill fill, bool unlimited = false) {
  int error = 0;
  try {
    auto request = std::make_unique<Request>();
    SessionCore* core = Core(req);
    request->session = core->shared_from_this();
    request->req = req;
    request->op = op;
    request->ino = ino;
    const struct fuse_ctx* context = fuse_req_ctx(req);
    request->uid = context->uid;
    request->gid = context->gid;
    request->pid = static_cast<uint32_t>(context->pid);
    request->umask = context->umask;
    error = fill(*request);
    if (error == 0) {
      core->Dispatch(std::move(request), unlimited);
      return;
    }
  } catch (const std::bad_alloc&) {
    error = ENOMEM;
  } catch (...) {
    error = EIO;
  }
  if (IsForget(op)) {
    fuse_reply_none(req);
  } else {
    fuse_reply_err(req, error);
  }
}

/**
 * Names reach JavaScript as strings. A name that is not UTF-8 cannot round-trip through one, so
 * it is refused with EILSEQ instead of being silently replaced by another name.
 */
int CopyName(const char* name, std::string* out) {
  size_t length = std::strlen(name);
  if (!js::IsUtf8(name, length)) return EILSEQ;
  out->assign(name, length);
  return 0;
}

void CopyFileInfo(Request& request, const struct fuse_file_info* info) {
  if (info == nullptr) return;
  request.fh = info->fh;
  request.hasFh = true;
  request.flags = static_cast<uint32_t>(info->flags);
  request.lockOwner = info->lock_owner;
}

int CopyBytes(const char* bytes, size_t length, OwnedBytes* out) {
  if (!out->Allocate(length)) return ENOMEM;
  if (length != 0) std::memcpy(out->data, bytes, length);
  return 0;
}

void OnInit(void* userdata, struct fuse_conn_info* connection) {
  static_cast<SessionCore*>(userdata)->Negotiate(connection);
}

void OnLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Handle(req, Opcode::Lookup, parent, [&](Request& r) { return CopyName(name, &r.name); });
}

void OnForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Handle(req, Opcode::Forget, ino, [&](Request& r) {
    r.length = nlookup;
    return 0;
  });
}

void OnForgetMulti(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) {
  Handle(req, Opcode::ForgetMulti, 0, [&](Request& r) {
    r.forgets.assign(forgets, forgets + count);
    return 0;
  });
}

void OnGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info) {
  Handle(req, Opcode::Getattr, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    return 0;
  });
}

void OnSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet, struct fuse_file_info* info) {
  if ((toSet & FUSE_SET_ATTR_SIZE) != 0) Core(req)->FileTouched(ino);
  Handle(req, Opcode::Setattr, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.attr = *attr;
    r.number = toSet;
    return 0;
  });
}

void OnReadlink(fuse_req_t req, fuse_ino_t ino) {
  Handle(req, Opcode::Readlink, ino, [](Request&) { return 0; });
}

void OnMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Handle(req, Opcode::Mknod, parent, [&](Request& r) {
    r.mode = mode;
    r.rdev = static_cast<uint32_t>(rdev);
    return CopyName(name, &r.name);
  });
}

void OnMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Handle(req, Opcode::Mkdir, parent, [&](Request& r) {
    r.mode = mode;
    return CopyName(name, &r.name);
  });
}

void OnUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Handle(req, Opcode::Unlink, parent, [&](Request& r) { return CopyName(name, &r.name); });
}

void OnRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Handle(req, Opcode::Rmdir, parent, [&](Request& r) { return CopyName(name, &r.name); });
}

void OnSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Handle(req, Opcode::Symlink, parent, [&](Request& r) {
    int error = CopyName(name, &r.name);
    return error != 0 ? error : CopyName(target, &r.name2);
  });
}

void OnRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent, const char* newName,
              unsigned int flags) {
  Handle(req, Opcode::Rename, parent, [&](Request& r) {
    r.ino2 = newParent;
    r.flags = flags;
    int error = CopyName(name, &r.name);
    return error != 0 ? error : CopyName(newName, &r.name2);
  });
}

void OnLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newParent, const char* newName) {
  Handle(req, Opcode::Link, ino, [&](Request& r) {
    r.ino2 = newParent;
    return CopyName(newName, &r.name);
  });
}

void OnOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info) {
  Handle(req, Opcode::Open, ino, [&](Request& r) {
    r.flags = static_cast<uint32_t>(info->flags);
    return 0;
  });
}

void OnRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info* info) {
  Handle(req, Opcode::Read, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.length = size;
    r.offset = static_cast<uint64_t>(offset);
    return 0;
  });
}

void OnWriteBuf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec* source, off_t offset,
                struct fuse_file_info* info) {
  Core(req)->FileTouched(ino);
  Handle(req, Opcode::Write, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.offset = static_cast<uint64_t>(offset);
    r.flag = info->writepage != 0;
    size_t length = fuse_buf_size(source);
    r.length = length;  // the data moves to JavaScript; replyWrite checks its count against this
    const struct fuse_buf& first = source->buf[0];
    // The one copy of write data is the kernel's into libfuse's receive buffer: a large payload
    // takes that buffer over. Otherwise (small payloads, or a spliced pipe) it is copied once.
    if (source->count == 1 && (first.flags & FUSE_BUF_IS_FD) == 0 &&
        r.session->TakeReceiveBuffer(static_cast<const char*>(first.mem), length, &r.data)) {
      return 0;
    }
    if (!r.data.Allocate(length)) return ENOMEM;
    struct fuse_bufvec destination = FUSE_BUFVEC_INIT(length);
    destination.buf[0].mem = r.data.data;
    ssize_t copied = fuse_buf_copy(&destination, source, static_cast<enum fuse_buf_copy_flags>(0));
    if (copied < 0) return static_cast<int>(-copied);
    r.data.length = static_cast<size_t>(copied);
    r.length = r.data.length;
    return 0;
  });
}

void OnFlush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info) {
  // Nothing written, allocated, truncated or locked on the inode since it was opened here: the
  // file system's flush has nothing to do (the mount said so), so the kernel is answered at once.
  if (Core(req)->FlushNeedsNothing(info->fh, ino)) {
    fuse_reply_err(req, 0);
    return;
  }
  Handle(req, Opcode::Flush, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    return 0;
  });
}

void OnRelease(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info) {
  Core(req)->FileReleased(info->fh);
  Handle(req, Opcode::Release, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.flag = info->flock_release != 0;
    return 0;
  });
}

void OnFsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info* info) {
  Handle(req, Opcode::Fsync, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.number = datasync;
    return 0;
  });
}

void OnOpendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info) {
  Handle(req, Opcode::Opendir, ino, [&](Request& r) {
    r.flags = static_cast<uint32_t>(info->flags);
    return 0;
  });
}

void OnReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info* info) {
  // A listing JavaScript handed over (SessionCore::ServeListing) answers without it.
  if (offset >= 0 && Core(req)->AnswerReaddir(req, info->fh, size, static_cast<uint64_t>(offset))) return;
  Handle(req, Opcode::Readdir, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.length = size;
    r.offset = static_cast<uint64_t>(offset);
    return 0;
  });
}

void OnReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info* info) {
  Handle(req, Opcode::Readdirplus, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.length = size;
    r.offset = static_cast<uint64_t>(offset);
    return 0;
  });
}

void OnReleasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info) {
  Core(req)->DropListing(info->fh);
  Handle(req, Opcode::Releasedir, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    return 0;
  });
}

void OnFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info* info) {
  Handle(req, Opcode::Fsyncdir, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.number = datasync;
    return 0;
  });
}

void OnStatfs(fuse_req_t req, fuse_ino_t ino) {
  Handle(req, Opcode::Statfs, ino, [](Request&) { return 0; });
}

void OnSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  Handle(req, Opcode::Setxattr, ino, [&](Request& r) {
    r.flags = static_cast<uint32_t>(flags);
    int error = CopyName(name, &r.name);
    return error != 0 ? error : CopyBytes(value, size, &r.data);
  });
}

void OnGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Handle(req, Opcode::Getxattr, ino, [&](Request& r) {
    r.length = size;
    return CopyName(name, &r.name);
  });
}

void OnListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Handle(req, Opcode::Listxattr, ino, [&](Request& r) {
    r.length = size;
    return 0;
  });
}

void OnRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Handle(req, Opcode::Removexattr, ino, [&](Request& r) { return CopyName(name, &r.name); });
}

void OnAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  Handle(req, Opcode::Access, ino, [&](Request& r) {
    r.number = mask;
    return 0;
  });
}

void OnCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, struct fuse_file_info* info) {
  Handle(req, Opcode::Create, parent, [&](Request& r) {
    r.mode = mode;
    r.flags = static_cast<uint32_t>(info->flags);
    return CopyName(name, &r.name);
  });
}

void OnGetlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info, struct flock* lock) {
  Handle(req, Opcode::Getlk, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.lock = *lock;
    return 0;
  });
}

void OnSetlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info, struct flock* lock, int sleep) {
  Core(req)->FileTouched(ino);
  Handle(
      req, Opcode::Setlk, ino,
      [&](Request& r) {
        CopyFileInfo(r, info);
        r.lock = *lock;
        r.flag = sleep != 0;
        return 0;
      },
      sleep != 0);
}

void OnFlock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* info, int operation) {
  Core(req)->FileTouched(ino);
  bool sleep = (operation & LOCK_NB) == 0 && (operation & LOCK_UN) == 0;
  Handle(
      req, Opcode::Flock, ino,
      [&](Request& r) {
        CopyFileInfo(r, info);
        r.number = operation;
        r.flag = sleep;
        return 0;
      },
      sleep);
}

void OnFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 struct fuse_file_info* info) {
  Core(req)->FileTouched(ino);
  Handle(req, Opcode::Fallocate, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.number = mode;
    r.offset = static_cast<uint64_t>(offset);
    r.length = static_cast<uint64_t>(length);
    return 0;
  });
}

void OnCopyFileRange(fuse_req_t req, fuse_ino_t inoIn, off_t offsetIn, struct fuse_file_info* infoIn,
                     fuse_ino_t inoOut, off_t offsetOut, struct fuse_file_info* infoOut, size_t length, int flags) {
  Core(req)->FileTouched(inoOut);
  Handle(req, Opcode::CopyFileRange, inoIn, [&](Request& r) {
    CopyFileInfo(r, infoIn);
    r.offset = static_cast<uint64_t>(offsetIn);
    r.ino2 = inoOut;
    r.fh2 = infoOut->fh;
    r.offset2 = static_cast<uint64_t>(offsetOut);
    r.length = length;
    r.flags = static_cast<uint32_t>(flags);
    return 0;
  });
}

void OnLseek(fuse_req_t req, fuse_ino_t ino, off_t offset, int whence, struct fuse_file_info* info) {
  Handle(req, Opcode::Lseek, ino, [&](Request& r) {
    CopyFileInfo(r, info);
    r.offset = static_cast<uint64_t>(offset);
    r.number = whence;
    return 0;
  });
}

const std::set<std::string>& KnownOperations() {
  static const std::set<std::string> names = {
      "lookup",  "forget",     "getattr",    "setattr",  "readlink",      "mknod",    "mkdir",
      "unlink",  "rmdir",      "symlink",    "rename",   "link",          "open",     "read",
      "write",   "flush",      "release",    "fsync",    "opendir",       "readdir",  "readdirplus",
      "releasedir", "fsyncdir", "statfs",    "setxattr", "getxattr",      "listxattr", "removexattr",
      "access",  "create",     "getlk",      "setlk",    "flock",         "fallocate", "copyFileRange",
      "lseek"};
  return names;
}

}  // namespace

bool IsKnownOperation(const std::string& name) { return KnownOperations().count(name) != 0; }

fuse_lowlevel_ops BuildOperations(const std::vector<std::string>& names) {
  std::set<std::string> has(names.begin(), names.end());
  auto wants = [&has](const char* name) { return has.count(name) != 0; };
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = OnInit;
  if (wants("lookup")) ops.lookup = OnLookup;
  if (wants("forget")) {
    ops.forget = OnForget;
    ops.forget_multi = OnForgetMulti;
  }
  if (wants("getattr")) ops.getattr = OnGetattr;
  if (wants("setattr")) ops.setattr = OnSetattr;
  if (wants("readlink")) ops.readlink = OnReadlink;
  if (wants("mknod")) ops.mknod = OnMknod;
  if (wants("mkdir")) ops.mkdir = OnMkdir;
  if (wants("unlink")) ops.unlink = OnUnlink;
  if (wants("rmdir")) ops.rmdir = OnRmdir;
  if (wants("symlink")) ops.symlink = OnSymlink;
  if (wants("rename")) ops.rename = OnRename;
  if (wants("link")) ops.link = OnLink;
  if (wants("open")) ops.open = OnOpen;
  if (wants("read")) ops.read = OnRead;
  // write_buf rather than write: it hands us libfuse's buffer, which large writes take over.
  if (wants("write")) ops.write_buf = OnWriteBuf;
  if (wants("flush")) ops.flush = OnFlush;
  if (wants("release")) ops.release = OnRelease;
  if (wants("fsync")) ops.fsync = OnFsync;
  if (wants("opendir")) ops.opendir = OnOpendir;
  if (wants("readdir")) ops.readdir = OnReaddir;
  if (wants("readdirplus")) ops.readdirplus = OnReaddirplus;
  if (wants("releasedir")) ops.releasedir = OnReleasedir;
  if (wants("fsyncdir")) ops.fsyncdir = OnFsyncdir;
  if (wants("statfs")) ops.statfs = OnStatfs;
  if (wants("setxattr")) ops.setxattr = OnSetxattr;
  if (wants("getxattr")) ops.getxattr = OnGetxattr;
  if (wants("listxattr")) ops.listxattr = OnListxattr;
  if (wants("removexattr")) ops.removexattr = OnRemovexattr;
  if (wants("access")) ops.access = OnAccess;
  if (wants("create")) ops.create = OnCreate;
  // POSIX locks are forwarded only as a pair: the kernel asks for both or neither.
  if (wants("getlk") && wants("setlk")) {
    ops.getlk = OnGetlk;
    ops.setlk = OnSetlk;
  }
  if (wants("flock")) ops.flock = OnFlock;
  if (wants("fallocate")) ops.fallocate = OnFallocate;
  if (wants("copyFileRange")) ops.copy_file_range = OnCopyFileRange;
  if (wants("lseek")) ops.lseek = OnLseek;
  return ops;
}

}  // namespace fusebinding
