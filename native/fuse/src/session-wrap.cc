#include "session-wrap.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "js-values.h"
#include "operations.h"

namespace fusebinding {
namespace {

// Limits of the options, with the reason for each.
constexpr uint32_t kThreadsMax = 64;           // workers only copy and queue; more never helps
constexpr uint32_t kInflightMax = 65536;       // the kernel's own queue is far smaller
constexpr uint32_t kMaxBackgroundMax = 65535;  // libfuse clamps to 16 bits
constexpr size_t kOptionValueBytesMax = 255;

bool OptionalBool(Napi::Env env, const Napi::Object& options, const char* name, bool fallback) {
  Napi::Value value = options.Get(name);
  return value.IsUndefined() ? fallback : js::ToBool(env, value, name);
}

uint32_t OptionalUint32(Napi::Env env, const Napi::Object& options, const char* name, uint32_t fallback,
                        uint32_t max) {
  Napi::Value value = options.Get(name);
  return value.IsUndefined() ? fallback : js::ToUint32(env, value, name, max);
}

/** fsname and subtype end up inside a comma-separated option string: no separators allowed. */
std::string OptionalOptionText(Napi::Env env, const Napi::Object& options, const char* name) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return "";
  std::string text = js::ToText(env, value, name, kOptionValueBytesMax);
  if (text.find_first_of(",\\ \t\n") != std::string::npos) {
    js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", std::string(name) + " must not contain commas, backslashes or spaces");
  }
  return text;
}

SessionOptions ParseOptions(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "session options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  SessionOptions options;
  options.fsName = OptionalOptionText(env, o, "fsName");
  options.subtype = OptionalOptionText(env, o, "subtype");
  options.allowOther = OptionalBool(env, o, "allowOther", false);
  options.defaultPermissions = OptionalBool(env, o, "defaultPermissions", true);
  options.readOnly = OptionalBool(env, o, "readOnly", false);
  options.autoUnmount = OptionalBool(env, o, "autoUnmount", true);
  options.debug = OptionalBool(env, o, "debug", false);
  options.maxReadBytes = OptionalUint32(env, o, "maxReadBytes", 0, UINT32_MAX);
  options.maxWriteBytes = OptionalUint32(env, o, "maxWriteBytes", 0, UINT32_MAX);
  options.maxReadaheadBytes = OptionalUint32(env, o, "maxReadaheadBytes", 0, UINT32_MAX);
  options.maxBackground = OptionalUint32(env, o, "maxBackground", 0, kMaxBackgroundMax);
  options.congestionThreshold = OptionalUint32(env, o, "congestionThreshold", 0, kMaxBackgroundMax);
  options.writebackCache = OptionalBool(env, o, "writebackCache", false);
  options.asyncRead = OptionalBool(env, o, "asyncRead", true);
  options.parallelDirops = OptionalBool(env, o, "parallelDirops", true);
  options.atomicOTrunc = OptionalBool(env, o, "atomicOTrunc", true);
  options.cacheSymlinks = OptionalBool(env, o, "cacheSymlinks", false);
  options.spliceRead = OptionalBool(env, o, "spliceRead", false);
  options.readdirplus = static_cast<int>(OptionalUint32(env, o, "readdirplus", 1, 2));
  options.posixLocks = OptionalBool(env, o, "posixLocks", true);
  options.flockLocks = OptionalBool(env, o, "flockLocks", true);
  options.posixAcl = OptionalBool(env, o, "posixAcl", false);
  options.flushOnlyTouched = OptionalBool(env, o, "flushOnlyTouched", false);
  options.threads = OptionalUint32(env, o, "threads", 0, kThreadsMax);
  options.maxInflight = OptionalUint32(env, o, "maxInflight", 128, kInflightMax);
  if (options.maxInflight == 0) js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "maxInflight must be at least 1");
  Napi::Value operations = o.Get("operations");
  if (!operations.IsArray()) js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "operations must be an array of names");
  Napi::Array names = operations.As<Napi::Array>();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string name = js::ToText(env, names.Get(i), "operation name", 64);
    if (!IsKnownOperation(name)) js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "unknown operation: " + name);
    options.operations.push_back(name);
  }
  return options;
}

/** Runs one cache notification on libuv's pool: the kernel may block it on an inode lock. */
class NotifyWorker : public Napi::AsyncWorker {
 public:
  enum class Kind { InvalidateInode, InvalidateEntry, Delete };

  NotifyWorker(Napi::Env env, std::shared_ptr<SessionCore> core, Kind kind)
      : Napi::AsyncWorker(env, "fuse-notify"), deferred_(Napi::Promise::Deferred::New(env)), core_(std::move(core)),
        kind_(kind) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  fuse_ino_t ino = 0;
  fuse_ino_t child = 0;
  int64_t offset = 0;
  int64_t length = 0;
  std::string name;

 protected:
  void Execute() override {
    if (!core_->BeginNotify()) {
      SetError("the FUSE session is not mounted");
      return;
    }
    struct fuse_session* session = core_->session();
    switch (kind_) {
      case Kind::InvalidateInode:
        result_ = fuse_lowlevel_notify_inval_inode(session, ino, offset, length);
        break;
      case Kind::InvalidateEntry:
        result_ = fuse_lowlevel_notify_inval_entry(session, ino, name.c_str(), name.size());
        break;
      case Kind::Delete:
        result_ = fuse_lowlevel_notify_delete(session, ino, child, name.c_str(), name.size());
        break;
    }
    core_->EndNotify();
    // ENOENT: the kernel had nothing cached for it, which is not a failure.
    if (result_ < 0 && result_ != -ENOENT) SetError(std::string("cache notification failed: ") + strerror(-result_));
  }

  void OnOK() override { deferred_.Resolve(Napi::Boolean::New(Env(), result_ == 0)); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SessionCore> core_;
  Kind kind_;
  int result_ = 0;
};

}  // namespace

Napi::Function SessionWrap::Define(Napi::Env env) {
  return DefineClass(env, "FuseSession",
                     {
                         InstanceMethod<&SessionWrap::Mount>("mount"),
                         InstanceMethod<&SessionWrap::StopWorkers>("stopWorkers"),
                         InstanceMethod<&SessionWrap::PendingCount>("pendingCount"),
                         InstanceMethod<&SessionWrap::AutoUnmountSocket>("autoUnmountSocket"),
                         InstanceMethod<&SessionWrap::Close>("close"),
                         InstanceMethod<&SessionWrap::NotifyInvalidateInode>("notifyInvalidateInode"),
                         InstanceMethod<&SessionWrap::NotifyInvalidateEntry>("notifyInvalidateEntry"),
                         InstanceMethod<&SessionWrap::NotifyDelete>("notifyDelete"),
                         InstanceMethod<&SessionWrap::EnableFastReads>("enableFastReads"),
                         InstanceMethod<&SessionWrap::FastReadsConnect>("fastReadsConnect"),
                         InstanceMethod<&SessionWrap::FastReadsHasConnection>("fastReadsHasConnection"),
                         InstanceMethod<&SessionWrap::FastReadsSetTarget>("fastReadsSetTarget"),
                         InstanceMethod<&SessionWrap::FastReadsSetChain>("fastReadsSetChain"),
                         InstanceMethod<&SessionWrap::FastReadsSetFile>("fastReadsSetFile"),
                         InstanceMethod<&SessionWrap::FastReadsForgetFile>("fastReadsForgetFile"),
                         InstanceMethod<&SessionWrap::FastReadsForgetInode>("fastReadsForgetInode"),
                         InstanceMethod<&SessionWrap::FastReadsStats>("fastReadsStats"),
                         InstanceAccessor<&SessionWrap::IsMounted>("mounted"),
                         InstanceAccessor<&SessionWrap::FlushesAnswered>("flushesAnswered"),
                         InstanceMethod<&SessionWrap::ServeListing>("serveListing"),
                         InstanceMethod<&SessionWrap::DropListing>("dropListing"),
                         InstanceAccessor<&SessionWrap::ReaddirsAnswered>("readdirsAnswered"),
                     });
}

SessionWrap::SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
  Napi::Env env = info.Env();
  core_ = std::make_shared<SessionCore>(ParseOptions(env, info[0]));
  core_->Create(env);
}

SessionWrap::~SessionWrap() {
  // Collected while still mounted: nobody can answer its requests any more, so end it.
  if (core_) core_->Close();
}

Napi::Value SessionWrap::Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string mountpoint = js::ToText(env, info[0], "mountpoint", 4095);
  if (mountpoint.empty() || mountpoint[0] != '/') js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "mountpoint must be an absolute path");
  if (!info[1].IsFunction()) js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "mount needs a dispatch function");
  core_->Mount(env, mountpoint, info[1].As<Napi::Function>());
  return env.Undefined();
}

Napi::Value SessionWrap::StopWorkers(const Napi::CallbackInfo& info) {
  core_->StopWorkers();
  return info.Env().Undefined();
}

Napi::Value SessionWrap::PendingCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core_->PendingCount()));
}

Napi::Value SessionWrap::AutoUnmountSocket(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_->autoUnmountSocket());
}

Napi::Value SessionWrap::Close(const Napi::CallbackInfo& info) {
  core_->Close();
  return info.Env().Undefined();
}

Napi::Value SessionWrap::IsMounted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), core_->mounted());
}

Napi::Value SessionWrap::FlushesAnswered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core_->flushesAnswered()));
}

Napi::Value SessionWrap::ReaddirsAnswered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core_->readdirsAnswered()));
}

// serveListing(fh, bytes, starts, count, firstOffset): the records are copied, so JavaScript may
// grow or drop its own afterwards.
Napi::Value SessionWrap::ServeListing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t fh = js::ToUint64(env, info[0], "fh");
  if (!info[1].IsBuffer()) js::ThrowInvalid(env, "bytes must be a Buffer");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    js::ThrowInvalid(env, "starts must be a Uint32Array");
  }
  auto bytes = info[1].As<Napi::Buffer<uint8_t>>();
  auto starts = info[2].As<Napi::Uint32Array>();
  const uint64_t count = js::ToUint64(env, info[3], "count", starts.ElementLength() == 0 ? 0 : starts.ElementLength() - 1);
  const uint64_t firstOffset = js::ToUint64(env, info[4], "firstOffset", INT64_MAX);
  if (starts.ElementLength() < count + 1) js::ThrowInvalid(env, "starts is shorter than count + 1");
  std::vector<uint32_t> kept(starts.Data(), starts.Data() + count + 1);
  for (uint64_t index = 0; index < count; index++) {
    if (kept[index] > kept[index + 1]) js::ThrowInvalid(env, "starts must not decrease");
  }
  if (kept[count] > bytes.Length()) js::ThrowInvalid(env, "starts point past the bytes");
  std::vector<uint8_t> copied(bytes.Data(), bytes.Data() + kept[count]);
  core_->ServeListing(fh, std::move(copied), std::move(kept), firstOffset);
  return env.Undefined();
}

Napi::Value SessionWrap::DropListing(const Napi::CallbackInfo& info) {
  core_->DropListing(js::ToUint64(info.Env(), info[0], "fh"));
  return info.Env().Undefined();
}

Napi::Value SessionWrap::NotifyInvalidateInode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new NotifyWorker(env, core_, NotifyWorker::Kind::InvalidateInode);
  try {
    worker->ino = js::ToUint64(env, info[0], "ino");
    // A negative offset invalidates the attributes only; libfuse takes off_t.
    if (!info[1].IsBigInt()) js::ThrowInvalid(env, "offset must be a bigint");
    bool lossless = false;
    worker->offset = info[1].As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) js::ThrowInvalid(env, "offset is out of range");
    worker->length = static_cast<int64_t>(js::ToUint64(env, info[2], "length", INT64_MAX));
  } catch (...) {
    delete worker;
    throw;
  }
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value SessionWrap::NotifyInvalidateEntry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new NotifyWorker(env, core_, NotifyWorker::Kind::InvalidateEntry);
  try {
    worker->ino = js::ToUint64(env, info[0], "parent");
    worker->name = js::ToName(env, info[1], "name");
  } catch (...) {
    delete worker;
    throw;
  }
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value SessionWrap::NotifyDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new NotifyWorker(env, core_, NotifyWorker::Kind::Delete);
  try {
    worker->ino = js::ToUint64(env, info[0], "parent");
    worker->child = js::ToUint64(env, info[1], "child");
    worker->name = js::ToName(env, info[2], "name");
  } catch (...) {
    delete worker;
    throw;
  }
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value DetachMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = js::ToText(env, info[0], "mountpoint", 4095);
  // MNT_DETACH: a stale FUSE mount has no server to answer, so a plain unmount may hang or fail
  // with EBUSY; detaching removes it from the namespace at once.
  int result = umount2(path.c_str(), MNT_DETACH);
  return Napi::Number::New(env, result == 0 ? 0 : errno);
}

}  // namespace fusebinding
