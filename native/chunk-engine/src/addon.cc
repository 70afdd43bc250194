// The N-API face of the chunk engine: `open(options)` resolves to an engine object whose methods
// mirror engine.h. Disk work runs in napi async work (the libuv thread pool), never on the
// JavaScript thread (a clone's prepare, which has none, finishes within the call), except small
// reads, which the JavaScript thread submits to the kernel through io_uring where there is one
// (read-ring.h) and the kernel completes; every failure reaches JavaScript as an Error with an `engineCode` (and
// `errno`, `block` where they apply), which the one TypeScript loader maps onto status codes. No
// C++ exception escapes into the runtime: each entry point turns them into JavaScript errors.
#include <napi.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "crc32c.h"
#include "engine.h"
#include "read-ring.h"
#include "read-server.h"

namespace chunk_engine {
namespace {

const char* KindName(EngineFailure::Kind kind) {
  switch (kind) {
    case EngineFailure::Kind::Io: return "io";
    case EngineFailure::Kind::NoSpace: return "no-space";
    case EngineFailure::Kind::CorruptLog: return "corrupt-log";
    case EngineFailure::Kind::Config: return "config";
    case EngineFailure::Kind::Closed: return "closed";
    case EngineFailure::Kind::Busy: return "busy";
    case EngineFailure::Kind::Invalid: return "invalid";
    case EngineFailure::Kind::NotFound: return "not-found";
    case EngineFailure::Kind::Corrupted: return "corrupted";
    case EngineFailure::Kind::OutOfRange: return "out-of-range";
    case EngineFailure::Kind::LengthMismatch: return "length-mismatch";
    case EngineFailure::Kind::TooLarge: return "too-large";
    case EngineFailure::Kind::VersionMismatch: return "version-mismatch";
    case EngineFailure::Kind::ChecksumMismatch: return "checksum-mismatch";
    case EngineFailure::Kind::None: break;
  }
  return "internal";
}

Napi::Value MakeError(Napi::Env env, const EngineFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message.empty() ? "chunk engine failure" : failure.message);
  error.Set("engineCode", Napi::String::New(env, KindName(failure.kind)));
  error.Set("errno", Napi::Number::New(env, failure.error));
  error.Set("block", Napi::Number::New(env, static_cast<double>(failure.block)));
  if (failure.version >= 0) error.Set("version", Napi::Number::New(env, static_cast<double>(failure.version)));
  return error.Value();
}

[[noreturn]] void ThrowFailure(Napi::Env env, EngineFailure::Kind kind, const std::string& message) {
  EngineFailure failure;
  failure.kind = kind;
  failure.message = message;
  throw Napi::Error(env, MakeError(env, failure));
}

[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message) {
  ThrowFailure(env, EngineFailure::Kind::Invalid, message);
}

ChunkKey ReadKey(const Napi::Value& value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowInvalid(value.Env(), "a chunk id is a 12-byte Buffer");
  }
  auto bytes = value.As<Napi::Uint8Array>();
  if (bytes.ByteLength() != 12) ThrowInvalid(value.Env(), "a chunk id is a 12-byte Buffer");
  ChunkKey key{};
  std::memcpy(key.data(), bytes.Data(), key.size());
  return key;
}

/** A non-negative integer up to `max` (at most 2^53), or a typed error naming `name`. */
uint64_t ReadInteger(const Napi::Value& value, const char* name, double max) {
  if (!value.IsNumber()) ThrowInvalid(value.Env(), std::string(name) + " is not a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number < 0 || number != std::floor(number) || number > max) {
    ThrowFailure(value.Env(), EngineFailure::Kind::OutOfRange, std::string(name) + " is out of range");
  }
  return static_cast<uint64_t>(number);
}

constexpr double kU32Max = 4294967295.0;
// Direct I/O wants memory aligned to the device's logical block; a page covers every size in use.
constexpr size_t kPageBytes = 4096;
constexpr double kSafeMax = 9007199254740991.0;

Napi::Value InfoObject(Napi::Env env, const std::optional<VersionInfo>& info) {
  if (!info) return env.Undefined();
  Napi::Object object = Napi::Object::New(env);
  object.Set("version", Napi::Number::New(env, info->version));
  object.Set("chainVersion", Napi::Number::New(env, info->chainVersion));
  object.Set("length", Napi::Number::New(env, info->length));
  object.Set("checksum", Napi::Number::New(env, info->checksum));
  return object;
}

Napi::Object StateObject(Napi::Env env, const ChunkState& state) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("committed", InfoObject(env, state.committed));
  object.Set("pending", InfoObject(env, state.pending));
  object.Set("removed", Napi::Boolean::New(env, state.removed));
  return object;
}

/** Async work settled through a promise. Finish runs once on the JavaScript thread, ok or not. */
class PromiseWork : public Napi::AsyncWorker {
 public:
  explicit PromiseWork(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Start() {
    Queue();
    return deferred_.Promise();
  }

 protected:
  virtual bool Run(EngineFailure* failure) = 0;
  virtual Napi::Value Settle(Napi::Env env, bool ok) = 0;

  void Execute() override {
    bool ok = false;
    try {
      ok = Run(&failure_);
    } catch (const std::exception& error) {
      failure_ = {EngineFailure::Kind::Io, 0, std::string("chunk engine: ") + error.what()};
    }
    if (!ok) SetError(failure_.message.empty() ? "failure" : failure_.message);
  }
  void OnOK() override { Complete(true); }
  void OnError(const Napi::Error&) override { Complete(false); }

  EngineFailure failure_;

 private:
  void Complete(bool ok) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      Napi::Value value = Settle(env, ok);
      if (ok) {
        deferred_.Resolve(value);
      } else {
        deferred_.Reject(MakeError(env, failure_));
      }
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    } catch (const std::exception& error) {
      deferred_.Reject(Napi::Error::New(env, error.what()).Value());
    }
  }
  Napi::Promise::Deferred deferred_;
};

Napi::Promise Rejected(Napi::Env env, const Napi::Error& error) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(error.Value());
  return deferred.Promise();
}

class PrepareWork : public PromiseWork {
 public:
  PrepareWork(Napi::Env env, std::shared_ptr<Engine> engine, std::unique_ptr<PrepareJob> job, Napi::Value data)
      : PromiseWork(env), engine_(std::move(engine)), job_(std::move(job)) {
    if (data.IsObject()) data_ = Napi::Persistent(data.As<Napi::Object>());
  }

 protected:
  bool Run(EngineFailure* failure) override { return engine_->RunPrepare(*job_, failure); }
  Napi::Value Settle(Napi::Env env, bool ok) override {
    VersionInfo info = engine_->FinishPrepare(*job_, ok);
    if (!ok) return env.Undefined();
    Napi::Object object = InfoObject(env, info).As<Napi::Object>();
    object.Set("removed", Napi::Boolean::New(env, job_->removed));
    return object;
  }

 private:
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<PrepareJob> job_;
  Napi::ObjectReference data_;  // keeps the payload alive while a worker reads it
};

/**
 * A compaction resolves to whether it succeeded and never rejects: one started by a commit has no
 * one waiting for it, and a failed one only leaves the old log in place for the next attempt.
 */
class CompactWork : public PromiseWork {
 public:
  CompactWork(Napi::Env env, std::shared_ptr<Engine> engine) : PromiseWork(env), engine_(std::move(engine)) {}

 protected:
  bool Run(EngineFailure* failure) override {
    compacted_ = engine_->RunCompaction(failure);
    return true;
  }
  Napi::Value Settle(Napi::Env env, bool) override {
    engine_->FinishCompaction(compacted_);
    engine_->FinishBackground();
    return Napi::Boolean::New(env, compacted_);
  }

 private:
  std::shared_ptr<Engine> engine_;
  bool compacted_ = false;
};

/** Starts a compaction when the log has grown enough; its outcome only moves the next threshold. */
Napi::Promise StartCompaction(Napi::Env env, const std::shared_ptr<Engine>& engine, bool force) {
  EngineFailure failure;
  if (!force && !engine->WantsCompaction()) return Rejected(env, Napi::Error::New(env, "not needed"));
  if (!engine->BeginBackground(&failure)) {
    engine->FinishCompaction(false);
    return Rejected(env, Napi::Error(env, MakeError(env, failure)));
  }
  auto* work = new CompactWork(env, engine);
  return work->Start();
}

class CommitWork : public PromiseWork {
 public:
  CommitWork(Napi::Env env, std::shared_ptr<Engine> engine, std::unique_ptr<CommitJob> job)
      : PromiseWork(env), engine_(std::move(engine)), job_(std::move(job)) {}

 protected:
  bool Run(EngineFailure* failure) override { return engine_->RunCommit(*job_, failure); }
  Napi::Value Settle(Napi::Env env, bool ok) override {
    std::optional<VersionInfo> info = engine_->FinishCommit(*job_, ok);
    if (ok && engine_->WantsCompaction()) {
      EngineFailure failure;
      if (engine_->BeginBackground(&failure)) {
        (new CompactWork(env, engine_))->Start();  // settles to true or false, never rejects
      } else {
        engine_->FinishCompaction(false);
      }
    }
    return InfoObject(env, info);
  }

 private:
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<CommitJob> job_;
};

/**
 * Several begun commits whose records go to the metadata log in one append (they succeed or fail
 * together there); each then finishes as a commit of its own. Resolves to an array with, per
 * commit asked for, its committed version (undefined after a removal) or the Error it was refused
 * with (`refused`: the ones BeginCommit turned down, which never reached the log); rejects when the
 * append failed, which fails every commit in it.
 */
class CommitManyWork : public PromiseWork {
 public:
  CommitManyWork(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<std::unique_ptr<CommitJob>> jobs,
                 std::vector<size_t> positions, std::vector<std::pair<size_t, EngineFailure>> refused, size_t count)
      : PromiseWork(env),
        engine_(std::move(engine)),
        jobs_(std::move(jobs)),
        positions_(std::move(positions)),
        refused_(std::move(refused)),
        count_(count) {}

 protected:
  bool Run(EngineFailure* failure) override { return jobs_.empty() || engine_->RunCommits(jobs_, failure); }
  Napi::Value Settle(Napi::Env env, bool ok) override {
    Napi::Array results = Napi::Array::New(env, count_);
    for (size_t index = 0; index < jobs_.size(); index++) {
      std::optional<VersionInfo> info = engine_->FinishCommit(*jobs_[index], ok);
      if (ok) results.Set(static_cast<uint32_t>(positions_[index]), InfoObject(env, info));
    }
    if (!ok) return env.Undefined();
    for (const auto& [position, failure] : refused_) {
      results.Set(static_cast<uint32_t>(position), MakeError(env, failure));
    }
    if (!jobs_.empty() && engine_->WantsCompaction()) {
      EngineFailure failure;
      if (engine_->BeginBackground(&failure)) {
        (new CompactWork(env, engine_))->Start();  // settles to true or false, never rejects
      } else {
        engine_->FinishCompaction(false);
      }
    }
    return results;
  }

 private:
  std::shared_ptr<Engine> engine_;
  std::vector<std::unique_ptr<CommitJob>> jobs_;
  std::vector<size_t> positions_;
  std::vector<std::pair<size_t, EngineFailure>> refused_;
  size_t count_;
};

// What a read resolves to: its bytes (the job's buffer, handed over), their CRC32C and the version.
// A read into the caller's buffer resolves to its length instead (`length`, no `data`).
Napi::Object ReadResult(Napi::Env env, ReadJob& job) {
  const size_t length = static_cast<size_t>(job.end - job.start);
  Napi::Object result = Napi::Object::New(env);
  if (job.into != nullptr) {
    result.Set("length", Napi::Number::New(env, static_cast<double>(length)));
  } else if (length == 0) {
    result.Set("data", Napi::Buffer<uint8_t>::New(env, 0));
  } else {
    uint8_t* bytes = job.data.release();
    result.Set("data", Napi::Buffer<uint8_t>::NewOrCopy(env, bytes, length,
                                                        [](Napi::Env, uint8_t* owned) { delete[] owned; }));
  }
  result.Set("checksum", Napi::Number::New(env, job.checksum));
  result.Set("info", InfoObject(env, job.info));
  result.Set("uncommitted", Napi::Boolean::New(env, job.uncommitted));
  return result;
}

class ReadWork : public PromiseWork {
 public:
  ReadWork(Napi::Env env, std::shared_ptr<Engine> engine, std::unique_ptr<ReadJob> job, Napi::Value into)
      : PromiseWork(env), engine_(std::move(engine)), job_(std::move(job)) {
    // The caller's buffer stays alive while a worker writes into it.
    if (into.IsObject()) into_ = Napi::Persistent(into.As<Napi::Object>());
  }

 protected:
  bool Run(EngineFailure* failure) override { return engine_->RunRead(*job_, failure); }
  Napi::Value Settle(Napi::Env env, bool ok) override {
    engine_->FinishRead(*job_);
    if (!ok) return env.Undefined();
    return ReadResult(env, *job_);
  }

 private:
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<ReadJob> job_;
  Napi::ObjectReference into_;
};

// The optional buffer a read goes into (argument `index`): set on the job when it is a Buffer of
// at least the bytes the read can return; otherwise the read allocates its own.
Napi::Value ReadInto(const Napi::CallbackInfo& info, size_t index, ReadJob& job) {
  if (info.Length() <= index || !info[index].IsBuffer()) return info.Env().Undefined();
  auto buffer = info[index].As<Napi::Buffer<uint8_t>>();
  if (buffer.Length() < job.end - job.start) return info.Env().Undefined();
  job.into = buffer.Data();
  job.intoBytes = buffer.Length();
  return buffer;
}

// A read done by the read ring: the job's runs are read by the kernel, then checked and settled
// here, on the JavaScript thread.
class RingReadOp : public RingOp {
 public:
  RingReadOp(Napi::Env env, std::shared_ptr<Engine> engine, std::unique_ptr<ReadJob> job, Napi::Value into)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), engine_(std::move(engine)), job_(std::move(job)) {
    // The caller's buffer stays alive while the kernel writes into it.
    if (into.IsObject()) into_ = Napi::Persistent(into.As<Napi::Object>());
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }
  ReadJob& job() { return *job_; }

  void Finished(int error) override {
    Napi::HandleScope scope(env_);
    EngineFailure failure;
    const bool ok = engine_->FinishRingRead(*job_, error, &failure);
    try {
      if (ok) {
        deferred_.Resolve(ReadResult(env_, *job_));
      } else {
        deferred_.Reject(MakeError(env_, failure));
      }
    } catch (const Napi::Error& thrown) {
      deferred_.Reject(thrown.Value());
    } catch (const std::exception& thrown) {
      // Runs from the loop's poll callback: nothing may escape into the runtime.
      deferred_.Reject(Napi::Error::New(env_, std::string("chunk engine: ") + thrown.what()).Value());
    }
  }

 private:
  Napi::Env env_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Engine> engine_;
  std::unique_ptr<ReadJob> job_;
  Napi::ObjectReference into_;
};

class SyncWork : public PromiseWork {
 public:
  SyncWork(Napi::Env env, std::shared_ptr<Engine> engine) : PromiseWork(env), engine_(std::move(engine)) {}

 protected:
  bool Run(EngineFailure* failure) override { return engine_->RunSync(failure); }
  Napi::Value Settle(Napi::Env env, bool) override {
    engine_->FinishBackground();
    return env.Undefined();
  }

 private:
  std::shared_ptr<Engine> engine_;
};

class CloseWork : public PromiseWork {
 public:
  CloseWork(Napi::Env env, std::shared_ptr<Engine> engine) : PromiseWork(env), engine_(std::move(engine)) {}

 protected:
  bool Run(EngineFailure* failure) override { return engine_->RunClose(failure); }
  Napi::Value Settle(Napi::Env env, bool) override { return env.Undefined(); }

 private:
  std::shared_ptr<Engine> engine_;
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ChunkEngine",
                       {
                           InstanceMethod<&EngineWrap::Stat>("stat"),
                           InstanceMethod<&EngineWrap::HasPending>("hasPending"),
                           InstanceMethod<&EngineWrap::List>("list"),
                           InstanceMethod<&EngineWrap::Summarize>("summarize"),
                           InstanceMethod<&EngineWrap::Totals>("totals"),
                           InstanceMethod<&EngineWrap::Prepare>("prepare"),
                           InstanceMethod<&EngineWrap::Clone>("clone"),
                           InstanceMethod<&EngineWrap::Commit>("commit"),
                           InstanceMethod<&EngineWrap::CommitMany>("commitMany"),
                           InstanceMethod<&EngineWrap::Discard>("discard"),
                           InstanceMethod<&EngineWrap::Read>("read"),
                           InstanceMethod<&EngineWrap::ReadCached>("readCached"),
                           InstanceMethod<&EngineWrap::ReadRingMethod>("readRing"),
                           InstanceMethod<&EngineWrap::Sync>("sync"),
                           InstanceMethod<&EngineWrap::Compact>("compact"),
                           InstanceMethod<&EngineWrap::Close>("close"),
                           InstanceMethod<&EngineWrap::Stats>("stats"),
                       });
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {}
  /** The engine and its read ring, for the read server (null before open and after close). */
  std::shared_ptr<Engine> engine() const { return engine_; }
  std::shared_ptr<ReadRing> ring() const { return ring_; }
  ~EngineWrap() override {
    if (ring_) ring_->Close();
  }
  void Attach(Napi::Env env, std::shared_ptr<Engine> engine, bool ring) {
    engine_ = std::move(engine);
    if (!ring) {
      ringMissing_ = "turned off";
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      ringMissing_ = "no event loop to poll";
      return;
    }
    ring_ = ReadRing::Open(loop, kRingEntries, &ringMissing_);
    if (!ring_) return;
    // Promises settled by completions the eventfd woke us for run their continuations (and the
    // process's next ticks) when the scope closes, as after any callback into JavaScript.
    auto context = std::make_shared<Napi::AsyncContext>(env, "ChunkEngineRead");
    ring_->SetAround([env, context](const std::function<void()>& body) {
      Napi::HandleScope scope(env);
      Napi::CallbackScope callback(env, *context);
      body();
    });
  }

 private:
  Engine& Require(Napi::Env env) {
    if (!engine_) ThrowFailure(env, EngineFailure::Kind::Closed, "the chunk engine is not open");
    return *engine_;
  }

  template <typename Body>
  static Napi::Value Guard(Napi::Env env, Body body) {
    try {
      return body();
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& error) {
      EngineFailure failure{EngineFailure::Kind::Io, 0, std::string("chunk engine: ") + error.what()};
      throw Napi::Error(env, MakeError(env, failure));
    }
  }

  template <typename Body>
  static Napi::Value GuardAsync(Napi::Env env, Body body) {
    try {
      return Guard(env, body);
    } catch (const Napi::Error& error) {
      return Rejected(env, error);
    }
  }

  Napi::Value Stat(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Engine& engine = Require(info.Env());
      auto state = engine.Stat(ReadKey(info[0]));
      if (!state) return info.Env().Undefined();
      return StateObject(info.Env(), *state);
    });
  }

  Napi::Value HasPending(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      return Napi::Boolean::New(info.Env(), Require(info.Env()).HasPending(ReadKey(info[0])));
    });
  }

  Napi::Value List(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Engine& engine = Require(env);
      std::optional<ChunkKey> after;
      if (!info[0].IsUndefined() && !info[0].IsNull()) after = ReadKey(info[0]);
      const uint32_t limit = static_cast<uint32_t>(ReadInteger(info[1], "limit", kU32Max));
      auto listed = engine.List(after ? &*after : nullptr, limit);
      Napi::Array array = Napi::Array::New(env, listed.size());
      for (uint32_t index = 0; index < listed.size(); index++) {
        Napi::Object object = StateObject(env, listed[index].second);
        object.Set("key", Napi::Buffer<uint8_t>::Copy(env, listed[index].first.data(), 12));
        array.Set(index, object);
      }
      return array;
    });
  }

  Napi::Value Summarize(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Engine& engine = Require(env);
      if (!info[0].IsBigInt()) ThrowInvalid(env, "an inode id is a bigint");
      bool lossless = false;
      const uint64_t inode = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) ThrowFailure(env, EngineFailure::Kind::OutOfRange, "an inode id is a u64");
      const uint64_t begin = ReadInteger(info[1], "beginIndex", 4294967296.0);
      const uint64_t end = ReadInteger(info[2], "endIndex", 4294967296.0);
      RangeSummary summary = engine.Summarize(inode, begin, end);
      Napi::Object object = Napi::Object::New(env);
      if (summary.hasLast) {
        Napi::Object last = Napi::Object::New(env);
        last.Set("index", Napi::Number::New(env, summary.lastIndex));
        last.Set("version", Napi::Number::New(env, summary.last.version));
        last.Set("length", Napi::Number::New(env, summary.last.length));
        object.Set("last", last);
      } else {
        object.Set("last", env.Undefined());
      }
      object.Set("chunkCount", Napi::Number::New(env, static_cast<double>(summary.chunkCount)));
      object.Set("totalBytes", Napi::Number::New(env, static_cast<double>(summary.totalBytes)));
      object.Set("uncommittedCount", Napi::Number::New(env, static_cast<double>(summary.uncommittedCount)));
      return object;
    });
  }

  Napi::Value Totals(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      auto [count, bytes] = Require(info.Env()).Totals();
      Napi::Object object = Napi::Object::New(info.Env());
      object.Set("chunkCount", Napi::Number::New(info.Env(), static_cast<double>(count)));
      object.Set("committedBytes", Napi::Number::New(info.Env(), static_cast<double>(bytes)));
      return object;
    });
  }

  // prepare(key, kind, offset, length, data | undefined, version, chainVersion, dataCrc | undefined):
  // with dataCrc, a write's or replace's payload is checked against it in the prepare.
  Napi::Value Prepare(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Require(env);
      const ChunkKey key = ReadKey(info[0]);
      UpdateInput input;
      const uint64_t kind = ReadInteger(info[1], "kind", 4);
      input.kind = static_cast<UpdateKind>(kind);
      input.offset = ReadInteger(info[2], "offset", kSafeMax);
      input.length = ReadInteger(info[3], "length", kSafeMax);
      Napi::Value data = info[4];
      if (input.kind == UpdateKind::Write || input.kind == UpdateKind::Replace) {
        if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
          ThrowInvalid(env, "a write carries its payload as a Buffer");
        }
        auto bytes = data.As<Napi::Uint8Array>();
        input.data = bytes.Data();
        input.dataLength = bytes.ByteLength();
      }
      input.version = static_cast<uint32_t>(ReadInteger(info[5], "version", kU32Max));
      input.chainVersion = static_cast<uint32_t>(ReadInteger(info[6], "chainVersion", kU32Max));
      if (info.Length() > 7 && !info[7].IsUndefined() &&
          (input.kind == UpdateKind::Write || input.kind == UpdateKind::Replace)) {
        input.checkData = true;
        input.expectedDataCrc = static_cast<uint32_t>(ReadInteger(info[7], "dataCrc", kU32Max));
      }
      EngineFailure failure;
      auto job = engine_->BeginPrepare(key, input, &failure);
      if (!job) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      return (new PrepareWork(env, engine_, std::move(job), data))->Start();
    });
  }

  // clone(key, sourceKey, sourceVersion, version, chainVersion): a pending version sharing the
  // source chunk's committed blocks (which must be at sourceVersion; 0: the source is absent),
  // settled before the call returns (the promise is resolved already).
  Napi::Value Clone(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Require(env);
      const ChunkKey key = ReadKey(info[0]);
      UpdateInput input;
      input.kind = UpdateKind::Clone;
      input.source = ReadKey(info[1]);
      input.sourceVersion = static_cast<uint32_t>(ReadInteger(info[2], "sourceVersion", kU32Max));
      input.version = static_cast<uint32_t>(ReadInteger(info[3], "version", kU32Max));
      input.chainVersion = static_cast<uint32_t>(ReadInteger(info[4], "chainVersion", kU32Max));
      EngineFailure failure;
      auto job = engine_->BeginPrepare(key, input, &failure);
      if (!job) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      // A clone only names slots (the source's, or none for a hole): with nothing to write or
      // sync, its prepare finishes here rather than on a worker thread, which would cost a thread
      // hand-off each way for no I/O.
      if (!job->writes.empty() || job->shrink) {
        engine_->FinishPrepare(*job, false);
        throw std::logic_error("a clone's prepare writes blocks");
      }
      const bool ok = engine_->RunPrepare(*job, &failure);
      const VersionInfo prepared = engine_->FinishPrepare(*job, ok);
      if (!ok) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      auto deferred = Napi::Promise::Deferred::New(env);
      Napi::Object object = InfoObject(env, prepared).As<Napi::Object>();
      object.Set("removed", Napi::Boolean::New(env, job->removed));
      deferred.Resolve(object);
      return deferred.Promise();
    });
  }

  Napi::Value Commit(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Engine& engine = Require(env);
      const ChunkKey key = ReadKey(info[0]);
      const uint32_t version = static_cast<uint32_t>(ReadInteger(info[1], "version", kU32Max));
      EngineFailure failure;
      auto job = engine.BeginCommit(key, version, &failure);
      if (!job) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      return (new CommitWork(env, engine_, std::move(job)))->Start();
    });
  }

  // commitMany(keys, versions): the commits of several chunks with one metadata-log append; see
  // CommitManyWork for what it resolves to.
  Napi::Value CommitMany(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Engine& engine = Require(env);
      if (!info[0].IsArray() || !info[1].IsArray()) ThrowInvalid(env, "commitMany takes keys and versions");
      Napi::Array keys = info[0].As<Napi::Array>();
      Napi::Array versions = info[1].As<Napi::Array>();
      if (keys.Length() != versions.Length()) ThrowInvalid(env, "commitMany takes a version per key");
      // Read every argument before beginning any commit: a bad one then begins none.
      std::vector<std::pair<ChunkKey, uint32_t>> commits;
      for (uint32_t index = 0; index < keys.Length(); index++) {
        commits.emplace_back(ReadKey(keys.Get(index)),
                             static_cast<uint32_t>(ReadInteger(versions.Get(index), "version", kU32Max)));
      }
      std::vector<std::unique_ptr<CommitJob>> jobs;
      std::vector<size_t> positions;
      std::vector<std::pair<size_t, EngineFailure>> refused;
      for (size_t index = 0; index < commits.size(); index++) {
        EngineFailure failure;
        auto job = engine.BeginCommit(commits[index].first, commits[index].second, &failure);
        if (job) {
          jobs.push_back(std::move(job));
          positions.push_back(index);
        } else {
          refused.emplace_back(index, failure);
        }
      }
      return (new CommitManyWork(env, engine_, std::move(jobs), std::move(positions), std::move(refused),
                                 commits.size()))
          ->Start();
    });
  }

  Napi::Value Discard(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      EngineFailure failure;
      if (!Require(env).Discard(ReadKey(info[0]), &failure)) throw Napi::Error(env, MakeError(env, failure));
      return env.Undefined();
    });
  }

  // The read a read method's arguments (key, offset, length, pending) ask for, begun; null (and
  // `failure`) when the engine refuses it.
  static std::unique_ptr<ReadJob> BeginReadOf(const Napi::CallbackInfo& info, Engine& engine, EngineFailure* failure) {
    const ChunkKey key = ReadKey(info[0]);
    const uint64_t offset = ReadInteger(info[1], "offset", kSafeMax);
    const uint64_t length = ReadInteger(info[2], "length", kSafeMax);
    const bool pending = info[3].ToBoolean().Value();
    return engine.BeginRead(key, offset, length, pending, failure);
  }

  // read(key, offset, length, pending, into?)
  Napi::Value Read(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Engine& engine = Require(env);
      EngineFailure failure;
      auto job = BeginReadOf(info, engine, &failure);
      if (!job) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      Napi::Value into = ReadInto(info, 4, *job);
      return (new ReadWork(env, engine_, std::move(job), into))->Start();
    });
  }

  // A small read answered on the calling thread when every block it needs is in the page cache
  // (no thread-pool round trip); undefined otherwise, or on any failure, for `read` to do and
  // report properly.
  Napi::Value ReadCached(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return env.Undefined();
    EngineFailure failure;
    auto job = BeginReadOf(info, *engine_, &failure);
    if (!job) return env.Undefined();
    ReadInto(info, 4, *job);
    const bool ok = engine_->RunRead(*job, &failure, true);
    engine_->FinishRead(*job);
    if (!ok) return env.Undefined();
    return ReadResult(env, *job);
  }

  // readRing(key, offset, length, pending, into?): a read through the read ring, settled like
  // `read`; undefined when there is no ring (or it has no room now), for `read` to do instead.
  Napi::Value ReadRingMethod(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!ring_ || !ring_->usable()) return env.Undefined();
      Engine& engine = Require(env);
      EngineFailure failure;
      auto job = BeginReadOf(info, engine, &failure);
      if (!job) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      Napi::Value into = ReadInto(info, 4, *job);
      auto* op = new RingReadOp(env, engine_, std::move(job), into);
      ReadJob& planned = op->job();
      engine.PlanRead(planned);
      for (const ReadRun& run : planned.runs) {
        if (run.hole) continue;
        RingRead read;
        if (!engine.LocateRun(run, planned, &read.fd, &read.position, &failure)) {
          engine.FinishRead(planned);
          delete op;
          return Rejected(env, Napi::Error(env, MakeError(env, failure)));
        }
        read.data = run.target;
        read.length = static_cast<size_t>(run.bytes);
        op->reads.push_back(read);
      }
      Napi::Promise promise = op->Promise();
      if (!ring_->Submit(op)) {
        engine.FinishRead(planned);
        delete op;
        return env.Undefined();
      }
      return promise;
    });
  }

  Napi::Value Sync(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      EngineFailure failure;
      if (!Require(env).BeginBackground(&failure)) return Rejected(env, Napi::Error(env, MakeError(env, failure)));
      return (new SyncWork(env, engine_))->Start();
    });
  }

  Napi::Value Compact(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Require(info.Env());
      return StartCompaction(info.Env(), engine_, true);
    });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    return GuardAsync(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!engine_ || !engine_->MarkClosed()) {
        auto deferred = Napi::Promise::Deferred::New(env);
        deferred.Resolve(env.Undefined());
        return deferred.Promise();
      }
      return (new CloseWork(env, engine_))->Start();
    });
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Engine& engine = Require(env);
      Napi::Object object = Napi::Object::New(env);
      object.Set("logBytes", Napi::Number::New(env, static_cast<double>(engine.LogBytes())));
      object.Set("logGeneration", Napi::Number::New(env, static_cast<double>(engine.LogGeneration())));
      object.Set("usedSlots", Napi::Number::New(env, static_cast<double>(engine.UsedSlots())));
      object.Set("sharedSlots", Napi::Number::New(env, static_cast<double>(engine.SharedSlots())));
      object.Set("blockBytes", Napi::Number::New(env, engine.blockBytes()));
      object.Set("directReads", Napi::Number::New(env, static_cast<double>(engine.DirectReads())));
      // How small reads are done: through io_uring, or why not (then the thread pool does them).
      object.Set("readRing", Napi::String::New(env, ring_ && ring_->usable() ? "io_uring" : ringMissing_));
      return object;
    });
  }

  // Submissions the read ring holds: reads in flight at once beyond it go to the thread pool.
  static constexpr unsigned kRingEntries = 256;
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<ReadRing> ring_;
  std::string ringMissing_;
};

struct AddonData {
  Napi::FunctionReference engineClass;
  Napi::FunctionReference readServerClass;
};

// The JavaScript face of read-server.h: `new ReadServer(readBytesMax)`, then targets and
// connections handed to it; every argument is checked here.
class ReadServerWrap : public Napi::ObjectWrap<ReadServerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ReadServer",
                       {
                           InstanceMethod<&ReadServerWrap::SetTarget>("setTarget"),
                           InstanceMethod<&ReadServerWrap::SetReadable>("setReadable"),
                           InstanceMethod<&ReadServerWrap::RemoveTarget>("removeTarget"),
                           InstanceMethod<&ReadServerWrap::Adopt>("adopt"),
                           InstanceMethod<&ReadServerWrap::IsOpen>("isOpen"),
                           InstanceMethod<&ReadServerWrap::CloseConnection>("closeConnection"),
                           InstanceMethod<&ReadServerWrap::TakeCounters>("takeCounters"),
                           InstanceMethod<&ReadServerWrap::Close>("close"),
                           InstanceAccessor<&ReadServerWrap::Connections>("connections"),
                       });
  }

  explicit ReadServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ReadServerWrap>(info) {
    Napi::Env env = info.Env();
    const uint32_t readBytesMax = static_cast<uint32_t>(ReadInteger(info[0], "readBytesMax", 64u << 20));
    if (readBytesMax == 0) ThrowInvalid(env, "readBytesMax must be positive");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      throw Napi::Error::New(env, "no event loop for the read server");
    }
    server_ = std::make_shared<ReadServer>(loop, readBytesMax);
  }
  ~ReadServerWrap() override {
    if (server_) server_->Close();
  }

 private:
  // setTarget(targetId, engine, readable)
  Napi::Value SetTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t targetId = static_cast<uint32_t>(ReadInteger(info[0], "targetId", kU32Max));
    if (!info[1].IsObject()) ThrowInvalid(env, "setTarget takes an engine object");
    Napi::Object object = info[1].As<Napi::Object>();
    if (!object.InstanceOf(env.GetInstanceData<AddonData>()->engineClass.Value())) {
      ThrowInvalid(env, "setTarget takes an engine this addon opened");
    }
    EngineWrap* engine = EngineWrap::Unwrap(object);
    if (!engine->engine()) ThrowFailure(env, EngineFailure::Kind::Closed, "the engine is closed");
    server_->SetTarget(targetId, engine->engine(), engine->ring(), info[2].ToBoolean().Value());
    return env.Undefined();
  }

  Napi::Value SetReadable(const Napi::CallbackInfo& info) {
    const uint32_t targetId = static_cast<uint32_t>(ReadInteger(info[0], "targetId", kU32Max));
    server_->SetReadable(targetId, info[1].ToBoolean().Value());
    return info.Env().Undefined();
  }

  Napi::Value RemoveTarget(const Napi::CallbackInfo& info) {
    server_->RemoveTarget(static_cast<uint32_t>(ReadInteger(info[0], "targetId", kU32Max)));
    return info.Env().Undefined();
  }

  // adopt(fd): the channel's id (> 0), or a negative errno when the descriptor cannot be taken over.
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    const int fd = static_cast<int>(ReadInteger(info[0], "fd", 0x7fffffff));
    return Napi::Number::New(info.Env(), static_cast<double>(server_->Adopt(fd)));
  }

  Napi::Value IsOpen(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), server_->IsOpen(static_cast<int64_t>(ReadInteger(info[0], "id", kSafeMax))));
  }

  Napi::Value CloseConnection(const Napi::CallbackInfo& info) {
    server_->CloseConnection(static_cast<int64_t>(ReadInteger(info[0], "id", kSafeMax)));
    return info.Env().Undefined();
  }

  Napi::Value TakeCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<ReadServerCounters> counters = server_->TakeCounters();
    Napi::Array array = Napi::Array::New(env, counters.size());
    for (size_t i = 0; i < counters.size(); ++i) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("targetId", Napi::Number::New(env, counters[i].targetId));
      entry.Set("reads", Napi::Number::New(env, static_cast<double>(counters[i].reads)));
      entry.Set("bytes", Napi::Number::New(env, static_cast<double>(counters[i].bytes)));
      array.Set(static_cast<uint32_t>(i), entry);
    }
    return array;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    server_->Close();
    return info.Env().Undefined();
  }

  Napi::Value Connections(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(server_->connections()));
  }

  std::shared_ptr<ReadServer> server_;
};

class OpenWork : public PromiseWork {
 public:
  OpenWork(Napi::Env env, EngineOptions options) : PromiseWork(env), options_(std::move(options)) {}

 protected:
  bool Run(EngineFailure* failure) override {
    engine_ = Engine::Open(options_, failure);
    return engine_ != nullptr;
  }
  Napi::Value Settle(Napi::Env env, bool ok) override {
    if (!ok) return env.Undefined();
    Napi::Object object = env.GetInstanceData<AddonData>()->engineClass.New({});
    EngineWrap::Unwrap(object)->Attach(env, engine_, options_.readRing);
    return object;
  }

 private:
  EngineOptions options_;
  std::shared_ptr<Engine> engine_;
};

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) ThrowInvalid(env, "open takes an options object");
    Napi::Object object = info[0].As<Napi::Object>();
    EngineOptions options;
    Napi::Value directory = object.Get("directory");
    if (!directory.IsString()) ThrowInvalid(env, "directory is a string");
    options.directory = directory.As<Napi::String>().Utf8Value();
    options.targetId = static_cast<uint32_t>(ReadInteger(object.Get("targetId"), "targetId", kU32Max));
    options.blockBytes = static_cast<uint32_t>(ReadInteger(object.Get("blockBytes"), "blockBytes", 64 << 20));
    options.minSlotBytes = static_cast<uint32_t>(ReadInteger(object.Get("minSlotBytes"), "minSlotBytes", 64 << 20));
    options.dataFileBytes = ReadInteger(object.Get("dataFileBytes"), "dataFileBytes", kSafeMax);
    options.growBytes = ReadInteger(object.Get("growBytes"), "growBytes", kSafeMax);
    options.chunkBytesMax = static_cast<uint32_t>(ReadInteger(object.Get("chunkBytesMax"), "chunkBytesMax", kU32Max));
    options.compactMinBytes = ReadInteger(object.Get("compactMinBytes"), "compactMinBytes", kSafeMax);
    options.durable = object.Get("durable").ToBoolean().Value();
    // Absent means true: page-aligned block writes bypass the page cache.
    Napi::Value directWrites = object.Get("directWrites");
    options.directWrites = directWrites.IsUndefined() || directWrites.ToBoolean().Value();
    // Absent means 0: every read goes through the page cache.
    Napi::Value directReadBytesMin = object.Get("directReadBytesMin");
    if (!directReadBytesMin.IsUndefined()) {
      options.directReadBytesMin = ReadInteger(directReadBytesMin, "directReadBytesMin", kSafeMax);
    }
    // Absent means true: small reads go through io_uring where the kernel allows it.
    Napi::Value readRing = object.Get("readRing");
    options.readRing = readRing.IsUndefined() || readRing.ToBoolean().Value();
    if (options.blockBytes == 0 || options.minSlotBytes == 0 || options.minSlotBytes > options.blockBytes ||
        options.dataFileBytes < options.blockBytes) {
      ThrowInvalid(env, "block, slot and file sizes are inconsistent");
    }
    return (new OpenWork(env, std::move(options)))->Start();
  } catch (const Napi::Error& error) {
    return Rejected(env, error);
  }
}

Napi::Value Crc32cOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowInvalid(env, "crc32c takes a Buffer");
  }
  auto bytes = info[0].As<Napi::Uint8Array>();
  const uint32_t initial = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Number::New(env, Crc32c(bytes.Data(), bytes.ByteLength(), initial));
}

Napi::Value Crc32cCombineOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t first = static_cast<uint32_t>(ReadInteger(info[0], "first", kU32Max));
  const uint32_t second = static_cast<uint32_t>(ReadInteger(info[1], "second", kU32Max));
  const uint64_t length = ReadInteger(info[2], "length", kSafeMax);
  return Napi::Number::New(env, Crc32cCombine(first, second, length));
}

// alignedArrayBuffer(size): an ArrayBuffer of `size` bytes (contents undefined) whose memory starts
// on a page, as reads around the page cache need of the memory they fill.
Napi::Value AlignedArrayBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t size = ReadInteger(info[0], "size", kU32Max);
  void* memory = nullptr;
  if (posix_memalign(&memory, kPageBytes, size > 0 ? size : 1) != 0) {
    throw Napi::Error::New(env, "no memory for an aligned buffer of " + std::to_string(size) + " bytes");
  }
  return Napi::ArrayBuffer::New(env, memory, size, [](Napi::Env, void* owned) { std::free(owned); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->engineClass = Napi::Persistent(EngineWrap::Define(env));
  data->readServerClass = Napi::Persistent(ReadServerWrap::Define(env));
  env.SetInstanceData(data);
  exports.Set("ReadServer", data->readServerClass.Value());
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("crc32c", Napi::Function::New(env, Crc32cOf));
  exports.Set("alignedArrayBuffer", Napi::Function::New(env, AlignedArrayBuffer));
  exports.Set("crc32cCombine", Napi::Function::New(env, Crc32cCombineOf));
  exports.Set("crc32cImplementation", Napi::String::New(env, Crc32cImplementation()));
  return exports;
}

}  // namespace
}  // namespace chunk_engine

static Napi::Object InitChunkEngine(Napi::Env env, Napi::Object exports) {
  return chunk_engine::Init(env, exports);
}

NODE_API_MODULE(chunk_engine, InitChunkEngine)
