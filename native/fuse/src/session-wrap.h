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
  Napi::Value ReaddirsAnswered(const Napi::CallbackInfo& info);
  Napi::Value ServeListing(const Napi::CallbackInfo& info);
  Napi::Value DropListing(const Napi::CallbackInfo& info);
  Napi::Value NotifyInvalidateInode(const Napi::CallbackInfo& info);
  Napi::Value NotifyInvalidateEntry(const Napi::CallbackInfo& info);
  Napi::Value NotifyDelete(const Napi::CallbackInfo& info);
  // Reads answered without JavaScript (fast-reads.h); defined in fast-reads-wrap.cc.
  Napi::Value EnableFastReads(const Napi::CallbackInfo& info);
  Napi::Value FastReadsConnect(const Napi::CallbackInfo& info);
  Napi::Value FastReadsHasConnection(const Napi::CallbackInfo& info);
  Napi::Value FastReadsSetTarget(const Napi::CallbackInfo& info);
  Napi::Value FastReadsSetChain(const Napi::CallbackInfo& info);
  Napi::Value FastReadsSetFile(const Napi::CallbackInfo& info);
  Napi::Value FastReadsForgetFile(const Napi::CallbackInfo& info);
  Napi::Value FastReadsForgetInode(const Napi::CallbackInfo& info);
  Napi::Value FastReadsStats(const Napi::CallbackInfo& info);
  /** The session's fast reads; throws unless enableFastReads made them. */
  FastReads& RequireFastReads(Napi::Env env);

  std::shared_ptr<SessionCore> core_;
};

/** detachMount(path): lazily unmounts `path` (umount2 MNT_DETACH); returns 0 or the errno. */
Napi::Value DetachMount(const Napi::CallbackInfo& info);

}  // namespace fusebinding
