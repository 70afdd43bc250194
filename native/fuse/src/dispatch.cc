// Delivery of queued requests and events to the JavaScript dispatcher, on the JavaScript thread.
// The dispatcher is called as dispatch(handle, op, ino, uid, gid, pid, umask, ...arguments) for a
// request and dispatch(null, op, ...arguments) for an event; ArgumentsFor lists the arguments of
// each opcode, and src/fuse/lowlevel/dispatcher.ts reads them in the same order.
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "js-values.h"
#include "receive-pool.h"
#include "libfuse-log.h"
#include "request.h"
#include "session.h"

namespace fusebinding {
namespace {

/** Where a data buffer handed to JavaScript came from, for its finalizer. */
struct ExternalBlock {
  char* base;
  size_t allocation;
  bool receiveBuffer;
};

/**
 * Hands the request's bytes to JavaScript without copying: the Buffer points at our allocation
 * and frees it when collected. The bytes are not reported to V8 with
 * AdjustExternalMemory: the Buffer of a write dies young and goes with the young generation's
 * collections, while a count reported here only comes down when finalizers run, so it climbed
 * and started a full collection for every 32 MiB written (31 in a 1 GiB sequential write; none
 * without it).
 */
Napi::Value TakeBytes(Napi::Env env, OwnedBytes& bytes) {
  auto* block = new ExternalBlock{bytes.base, bytes.allocation, bytes.receiveBuffer};
  char* data = bytes.data;
  size_t length = bytes.length;
  bytes.Release();
  Napi::Buffer<char> buffer;
  try {
    buffer = Napi::Buffer<char>::New(
        env, data, length,
        [](Napi::Env finalizeEnv, char*, ExternalBlock* owned) {
          // A write's receive buffer goes back to the pool for the next receive.
          if (!owned->receiveBuffer || !GivePooledReceiveBuffer(owned->base, owned->allocation)) {
            std::free(owned->base);
          }
          delete owned;
        },
        block);
  } catch (...) {
    std::free(block->base);
    delete block;
    throw;
  }
  return buffer;
}

Napi::Value U64(Napi::Env env, uint64_t value) { return Napi::BigInt::New(env, value); }
Napi::Value Number(Napi::Env env, double value) { return Napi::Number::New(env, value); }
Napi::Value FileHandle(Napi::Env env, const Request& r) { return r.hasFh ? U64(env, r.fh) : env.Undefined(); }

Napi::Value ForgetPairs(Napi::Env env, const Request& r) {
  auto pairs = Napi::TypedArrayOf<uint64_t>::New(env, r.forgets.size() * 2, napi_biguint64_array);
  for (size_t i = 0; i < r.forgets.size(); ++i) {
    pairs[i * 2] = r.forgets[i].ino;
    pairs[i * 2 + 1] = r.forgets[i].nlookup;
  }
  return pairs;
}

/** The request's own arguments, after the common (handle, op, ino, uid, gid, pid, umask). */
void ArgumentsFor(Napi::Env env, Request& r, std::vector<napi_value>& args) {
  auto add = [&args](Napi::Value value) { args.push_back(value); };
  auto text = [env](const std::string& value) { return Napi::String::New(env, value); };
  switch (r.op) {
    case Opcode::Lookup:
    case Opcode::Unlink:
    case Opcode::Rmdir:
    case Opcode::Removexattr:
      add(text(r.name));
      break;
    case Opcode::Forget:
      add(U64(env, r.length));
      break;
    case Opcode::ForgetMulti:
      add(ForgetPairs(env, r));
      break;
    case Opcode::Getattr:
      add(FileHandle(env, r));
      break;
    case Opcode::Setattr:
      add(Number(env, r.number));  // to_set bits
      add(Number(env, r.attr.st_mode));
      add(Number(env, r.attr.st_uid));
      add(Number(env, r.attr.st_gid));
      add(U64(env, static_cast<uint64_t>(r.attr.st_size)));
      add(js::FromTimespec(env, r.attr.st_atim));
      add(js::FromTimespec(env, r.attr.st_mtim));
      add(js::FromTimespec(env, r.attr.st_ctim));
      add(FileHandle(env, r));
      break;
    case Opcode::Readlink:
    case Opcode::Statfs:
      break;
    case Opcode::Mknod:
      add(text(r.name));
      add(Number(env, r.mode));
      add(Number(env, r.rdev));
      break;
    case Opcode::Mkdir:
      add(text(r.name));
      add(Number(env, r.mode));
      break;
    case Opcode::Symlink:
      add(text(r.name));
      add(text(r.name2));  // target
      break;
    case Opcode::Rename:
      add(text(r.name));
      add(U64(env, r.ino2));
      add(text(r.name2));
      add(Number(env, r.flags));
      break;
    case Opcode::Link:
      add(U64(env, r.ino2));  // new parent
      add(text(r.name));      // new name
      break;
    case Opcode::Open:
    case Opcode::Opendir:
      add(Number(env, r.flags));
      break;
    case Opcode::Read:
      add(FileHandle(env, r));
      add(U64(env, r.offset));
      add(Number(env, static_cast<double>(r.length)));
      add(Number(env, r.flags));
      add(U64(env, r.lockOwner));
      break;
    case Opcode::Write:
      add(FileHandle(env, r));
      add(U64(env, r.offset));
      add(TakeBytes(env, r.data));
      add(Napi::Boolean::New(env, r.flag));  // writepage
      add(Number(env, r.flags));
      add(U64(env, r.lockOwner));
      break;
    case Opcode::Flush:
      add(FileHandle(env, r));
      add(U64(env, r.lockOwner));
      break;
    case Opcode::Release:
      add(FileHandle(env, r));
      add(Number(env, r.flags));
      add(U64(env, r.lockOwner));
      add(Napi::Boolean::New(env, r.flag));  // flock_release
      break;
    case Opcode::Fsync:
    case Opcode::Fsyncdir:
      add(FileHandle(env, r));
      add(Napi::Boolean::New(env, r.number != 0));  // datasync
      break;
    case Opcode::Readdir:
    case Opcode::Readdirplus:
      add(FileHandle(env, r));
      add(U64(env, r.offset));
      add(Number(env, static_cast<double>(r.length)));
      break;
    case Opcode::Releasedir:
      add(FileHandle(env, r));
      add(Number(env, r.flags));
      break;
    case Opcode::Setxattr:
      add(text(r.name));
      add(TakeBytes(env, r.data));
      add(Number(env, r.flags));
      break;
    case Opcode::Getxattr:
      add(text(r.name));
      add(Number(env, static_cast<double>(r.length)));
      break;
    case Opcode::Listxattr:
      add(Number(env, static_cast<double>(r.length)));
      break;
    case Opcode::Access:
      add(Number(env, r.number));
      break;
    case Opcode::Create:
      add(text(r.name));
      add(Number(env, r.mode));
      add(Number(env, r.flags));
      break;
    case Opcode::Getlk:
    case Opcode::Setlk:
      add(FileHandle(env, r));
      add(U64(env, r.lockOwner));
      add(Number(env, r.lock.l_type));
      add(U64(env, static_cast<uint64_t>(r.lock.l_start)));
      add(U64(env, static_cast<uint64_t>(r.lock.l_len)));  // 0: to the end of the file
      add(Number(env, r.lock.l_pid));
      if (r.op == Opcode::Setlk) add(Napi::Boolean::New(env, r.flag));  // wait
      break;
    case Opcode::Flock:
      add(FileHandle(env, r));
      add(U64(env, r.lockOwner));
      add(Number(env, r.number));  // LOCK_SH / LOCK_EX / LOCK_UN, with LOCK_NB
      break;
    case Opcode::Fallocate:
      add(FileHandle(env, r));
      add(Number(env, r.number));  // mode
      add(U64(env, r.offset));
      add(U64(env, r.length));
      break;
    case Opcode::CopyFileRange:
      add(FileHandle(env, r));
      add(U64(env, r.offset));
      add(U64(env, r.ino2));
      add(U64(env, r.fh2));
      add(U64(env, r.offset2));
      add(U64(env, r.length));
      add(Number(env, r.flags));
      break;
    case Opcode::Lseek:
      add(FileHandle(env, r));
      add(U64(env, r.offset));
      add(Number(env, r.number));  // whence
      break;
    default:
      break;
  }
}

void DeliverEvent(Napi::Env env, Napi::Function dispatch, Request& event) {
  std::vector<napi_value> args = {env.Null(), Number(env, static_cast<double>(event.op))};
  if (event.op == Opcode::InitEvent && event.connection) {
    const ConnectionReport& c = *event.connection;
    for (uint32_t value : {c.protoMajor, c.protoMinor, c.capable, c.want, c.maxWrite, c.maxRead, c.maxReadahead,
                           c.maxBackground, c.congestionThreshold, c.timeGranularity}) {
      args.push_back(Number(env, value));
    }
  } else if (event.op == Opcode::InterruptEvent) {
    args.push_back(Number(env, static_cast<double>(event.id)));
  }
  dispatch.Call(args);
}

}  // namespace

const char* OpcodeName(Opcode op) {
  switch (op) {
    case Opcode::Lookup: return "lookup";
    case Opcode::Forget: return "forget";
    case Opcode::ForgetMulti: return "forgetMulti";
    case Opcode::Getattr: return "getattr";
    case Opcode::Setattr: return "setattr";
    case Opcode::Readlink: return "readlink";
    case Opcode::Mknod: return "mknod";
    case Opcode::Mkdir: return "mkdir";
    case Opcode::Unlink: return "unlink";
    case Opcode::Rmdir: return "rmdir";
    case Opcode::Symlink: return "symlink";
    case Opcode::Rename: return "rename";
    case Opcode::Link: return "link";
    case Opcode::Open: return "open";
    case Opcode::Read: return "read";
    case Opcode::Write: return "write";
    case Opcode::Flush: return "flush";
    case Opcode::Release: return "release";
    case Opcode::Fsync: return "fsync";
    case Opcode::Opendir: return "opendir";
    case Opcode::Readdir: return "readdir";
    case Opcode::Readdirplus: return "readdirplus";
    case Opcode::Releasedir: return "releasedir";
    case Opcode::Fsyncdir: return "fsyncdir";
    case Opcode::Statfs: return "statfs";
    case Opcode::Setxattr: return "setxattr";
    case Opcode::Getxattr: return "getxattr";
    case Opcode::Listxattr: return "listxattr";
    case Opcode::Removexattr: return "removexattr";
    case Opcode::Access: return "access";
    case Opcode::Create: return "create";
    case Opcode::Getlk: return "getlk";
    case Opcode::Setlk: return "setlk";
    case Opcode::Flock: return "flock";
    case Opcode::Fallocate: return "fallocate";
    case Opcode::CopyFileRange: return "copyFileRange";
    case Opcode::Lseek: return "lseek";
    case Opcode::InitEvent: return "init";
    case Opcode::InterruptEvent: return "interrupt";
    case Opcode::EndedEvent: return "ended";
  }
  return "unknown";
}

void DeliverToJavaScript(Napi::Env env, Napi::Function dispatch, SessionCore*, Request* raw) {
  std::unique_ptr<Request> request(raw);
  if (static_cast<napi_env>(env) == nullptr) {
    // The environment is being torn down with this still queued: answer for JavaScript.
    if (request->req != nullptr) request->session->AnswerWithError(*request, EIO);
    return;
  }
  try {
    if (IsEvent(request->op)) {
      DeliverEvent(env, dispatch, *request);
      return;
    }
    // Session teardown answered it while it waited in the queue.
    if (request->state != RequestState::Queued || request->req == nullptr) return;
    request->state = RequestState::Delivered;
    Request& r = *request;
    std::vector<napi_value> args;
    args.reserve(16);
    args.push_back(env.Null());  // the handle, below, once the arguments are built
    args.push_back(Number(env, static_cast<double>(r.op)));
    args.push_back(U64(env, r.ino));
    args.push_back(Number(env, r.uid));
    args.push_back(Number(env, r.gid));
    args.push_back(Number(env, r.pid));
    args.push_back(Number(env, r.umask));
    ArgumentsFor(env, r, args);
    args[0] = RequestHandle::Create(env, std::move(request));  // owns the request from here
    try {
      dispatch.Call(args);
    } catch (const Napi::Error& error) {
      // The dispatcher is written never to throw; if it does, the request still gets an answer.
      if (r.req != nullptr && r.state == RequestState::Delivered) r.session->AnswerWithError(r, EIO);
      LogError("the JavaScript dispatcher threw on a %s request: %s", OpcodeName(r.op), error.Message().c_str());
    }
  } catch (const std::exception& error) {
    // Building arguments failed (out of memory): the request is still ours to answer.
    if (request && request->req != nullptr) request->session->AnswerWithError(*request, EIO);
    LogError("delivering a FUSE request to JavaScript failed: %s", error.what());
  }
}

}  // namespace fusebinding
