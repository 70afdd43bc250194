// The JavaScript side of fast reads (fast-reads.h): every value is validated here before it
// reaches the tables, so a bad one throws a TypeError and changes nothing.
#include <string>
#include <vector>

#include "js-values.h"
#include "session-wrap.h"

namespace fusebinding {
namespace {

constexpr size_t kAddressBytesMax = 300;
constexpr uint32_t kListMax = 4096;  // chains of a layout, groups of a chain, targets of a group

std::vector<uint32_t> ToUint32List(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsArray()) js::ThrowInvalid(env, std::string(what) + " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > kListMax) js::ThrowInvalid(env, std::string(what) + " is too long");
  std::vector<uint32_t> list;
  list.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) list.push_back(js::ToUint32(env, array.Get(i), what));
  return list;
}

}  // namespace

FastReads& SessionWrap::RequireFastReads(Napi::Env env) {
  FastReads* fast = core_->fastReads();
  if (fast == nullptr) js::ThrowWithCode(env, "ERR_FUSE_OPTIONS", "fast reads are not enabled on this session");
  return *fast;
}

Napi::Value SessionWrap::EnableFastReads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) js::ThrowInvalid(env, "enableFastReads takes an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  FastReadOptions options;
  options.readBytesMax = js::ToUint32(env, o.Get("readBytesMax"), "readBytesMax", 16u << 20);
  options.regionBytes = js::ToUint32(env, o.Get("regionBytes"), "regionBytes");
  options.timeoutMs = js::ToUint32(env, o.Get("timeoutMs"), "timeoutMs");
  options.penaltyMs = js::ToUint32(env, o.Get("penaltyMs"), "penaltyMs");
  if (options.readBytesMax == 0 || options.regionBytes == 0 || options.timeoutMs == 0) {
    js::ThrowInvalid(env, "readBytesMax, regionBytes and timeoutMs must be positive");
  }
  return Napi::Boolean::New(env, core_->EnableFastReads(env, options) != nullptr);
}

Napi::Value SessionWrap::FastReadsConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FastReads& fast = RequireFastReads(env);
  std::string address = js::ToText(env, info[0], "address", kAddressBytesMax);
  uint32_t fd = js::ToUint32(env, info[1], "fd", INT32_MAX);
  return Napi::Number::New(env, fast.AddConnection(address, static_cast<int>(fd)));
}

Napi::Value SessionWrap::FastReadsHasConnection(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FastReads& fast = RequireFastReads(env);
  return Napi::Boolean::New(env, fast.HasConnection(js::ToText(env, info[0], "address", kAddressBytesMax)));
}

Napi::Value SessionWrap::FastReadsSetTarget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FastReads& fast = RequireFastReads(env);
  uint32_t targetId = js::ToUint32(env, info[0], "targetId");
  fast.SetTarget(targetId, js::ToText(env, info[1], "address", kAddressBytesMax));
  return env.Undefined();
}

Napi::Value SessionWrap::FastReadsSetChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FastReads& fast = RequireFastReads(env);
  uint32_t chainId = js::ToUint32(env, info[0], "chainId");
  if (!info[1].IsArray()) js::ThrowInvalid(env, "groups must be an array");
  Napi::Array array = info[1].As<Napi::Array>();
  if (array.Length() > kListMax) js::ThrowInvalid(env, "groups is too long");
  std::vector<std::vector<uint32_t>> groups;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    groups.push_back(ToUint32List(env, array.Get(i), "a group's target ids"));
    if (groups.back().empty()) js::ThrowInvalid(env, "a group names at least one target");
  }
  fast.SetChain(chainId, std::move(groups));
  return env.Undefined();
}

Napi::Value SessionWrap::FastReadsSetFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FastReads& fast = RequireFastReads(env);
  uint64_t fh = js::ToUint64(env, info[0], "fh");
  FastReadFile file;
  file.inode = js::ToUint64(env, info[1], "inode");
  file.chunkBytes = js::ToUint32(env, info[2], "chunkBytes");
  file.length = js::ToUint64(env, info[3], "length");
  file.chainOfPosition = ToUint32List(env, info[4], "chains");
  if (file.chunkBytes == 0 || file.chainOfPosition.empty()) {
    js::ThrowInvalid(env, "a file has a positive chunk size and at least one chain");
  }
  fast.SetFile(fh, std::move(file));
  return env.Undefined();
}

Napi::Value SessionWrap::FastReadsForgetFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireFastReads(env).ForgetFile(js::ToUint64(env, info[0], "fh"));
  return env.Undefined();
}

Napi::Value SessionWrap::FastReadsForgetInode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireFastReads(env).ForgetInode(js::ToUint64(env, info[0], "inode"));
  return env.Undefined();
}

Napi::Value SessionWrap::FastReadsStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  FastReads* fast = core_->fastReads();
  FastReadStats stats = fast == nullptr ? FastReadStats{} : fast->stats();
  result.Set("answered", Napi::Number::New(env, static_cast<double>(stats.answered)));
  result.Set("handedOver", Napi::Number::New(env, static_cast<double>(stats.handedOver)));
  result.Set("connectionsLost", Napi::Number::New(env, static_cast<double>(stats.connectionsLost)));
  return result;
}

}  // namespace fusebinding
