// The FuseSession class JavaScript sees: options validation, mount, teardown and the cache
// notifications, over one SessionCore.
#pragma once

#include <memory>

#include <napi.h>

#include "session.h"

namespace fusebinding {

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit SessionWrap(const Napi::CallbackInfo& info);
  ~SessionWrap() override;

 private:
  Napi::Value Mount(const Napi::CallbackInfo& info);
  Napi::Value StopWorkers(const Napi::CallbackInfo& info);
  Napi::Value PendingCount(const Napi::CallbackInfo& info);
  Napi::Value AutoUnmountSocket(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsMounted(const Napi::CallbackInfo& info);
  Napi::Value FlushesAnswered(const Napi::CallbackInfo& info);
  Napi::Value NotifyInvalidateInode(const Napi::CallbackInfo& info);
  Napi::Value NotifyInvalidateEntry(const Napi::CallbackInfo& info);
  Napi::Value NotifyDelete(const Napi::CallbackInfo& info);

  std::shared_ptr<SessionCore> core_;
};

/** detachMount(path): lazily unmounts `path` (umount2 MNT_DETACH); returns 0 or the errno. */
Napi::Value DetachMount(const Napi::CallbackInfo& info);

}  // namespace fusebinding
