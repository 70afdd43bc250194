// Entry point of the FUSE low-level binding: registers the classes, the opcode table, the
// capability bits and the helpers, once per Node.js environment.
#include <napi.h>

#include "addon-data.h"
#include "fuse-api.h"
#include "libfuse-log.h"
#include "opcodes.h"
#include "request.h"
#include "session-wrap.h"

namespace fusebinding {
namespace {

Napi::Object Opcodes(Napi::Env env) {
  Napi::Object table = Napi::Object::New(env);
  for (uint32_t value = 1; value <= static_cast<uint32_t>(Opcode::Lseek); ++value) {
    table.Set(OpcodeName(static_cast<Opcode>(value)), value);
  }
  for (Opcode event : {Opcode::InitEvent, Opcode::InterruptEvent, Opcode::EndedEvent}) {
    table.Set(OpcodeName(event), static_cast<uint32_t>(event));
  }
  return table;
}

Napi::Object Capabilities(Napi::Env env) {
  Napi::Object table = Napi::Object::New(env);
  table.Set("asyncRead", FUSE_CAP_ASYNC_READ);
  table.Set("posixLocks", FUSE_CAP_POSIX_LOCKS);
  table.Set("atomicOTrunc", FUSE_CAP_ATOMIC_O_TRUNC);
  table.Set("exportSupport", FUSE_CAP_EXPORT_SUPPORT);
  table.Set("dontMask", FUSE_CAP_DONT_MASK);
  table.Set("spliceWrite", FUSE_CAP_SPLICE_WRITE);
  table.Set("spliceMove", FUSE_CAP_SPLICE_MOVE);
  table.Set("spliceRead", FUSE_CAP_SPLICE_READ);
  table.Set("flockLocks", FUSE_CAP_FLOCK_LOCKS);
  table.Set("ioctlDir", FUSE_CAP_IOCTL_DIR);
  table.Set("autoInvalData", FUSE_CAP_AUTO_INVAL_DATA);
  table.Set("readdirplus", FUSE_CAP_READDIRPLUS);
  table.Set("readdirplusAuto", FUSE_CAP_READDIRPLUS_AUTO);
  table.Set("asyncDio", FUSE_CAP_ASYNC_DIO);
  table.Set("writebackCache", FUSE_CAP_WRITEBACK_CACHE);
  table.Set("noOpenSupport", FUSE_CAP_NO_OPEN_SUPPORT);
  table.Set("parallelDirops", FUSE_CAP_PARALLEL_DIROPS);
  table.Set("posixAcl", FUSE_CAP_POSIX_ACL);
  table.Set("handleKillpriv", FUSE_CAP_HANDLE_KILLPRIV);
  table.Set("cacheSymlinks", FUSE_CAP_CACHE_SYMLINKS);
  table.Set("noOpendirSupport", FUSE_CAP_NO_OPENDIR_SUPPORT);
  table.Set("explicitInvalData", FUSE_CAP_EXPLICIT_INVAL_DATA);
  return table;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibfuseLog();
  auto* data = new AddonData();
  data->requestConstructor = Napi::Persistent(RequestHandle::Define(env));
  env.SetInstanceData(data);
  exports.Set("FuseSession", SessionWrap::Define(env));
  exports.Set("opcodes", Opcodes(env));
  exports.Set("capabilities", Capabilities(env));
  exports.Set("detachMount", Napi::Function::New<DetachMount>(env, "detachMount"));
  exports.Set("libfuseVersion", Napi::Number::New(env, fuse_version()));
  return exports;
}

}  // namespace
}  // namespace fusebinding

static Napi::Object InitFuseBinding(Napi::Env env, Napi::Object exports) { return fusebinding::Init(env, exports); }

NODE_API_MODULE(fuse, InitFuseBinding)
