// sd_notify(3) without libsystemd: sends one datagram to the AF_UNIX socket named by the caller
// (systemd's NOTIFY_SOCKET). Node has no AF_UNIX datagram sockets, hence this addon.
// Abstract socket names (a leading '@') are supported as systemd documents.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

// notify(socketPath: string, message: string): void — throws on failure with errno's text.
Napi::Value Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "notify(socketPath: string, message: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string message = info[1].As<Napi::String>().Utf8Value();

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    Napi::RangeError::New(env, "NOTIFY_SOCKET path is empty or too long").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Napi::Error::New(env, std::string("socket: ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t sent = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                        reinterpret_cast<sockaddr*>(&address), length);
  int saved = errno;
  close(fd);
  if (sent < 0) {
    Napi::Error::New(env, std::string("sendto ") + path + ": " + std::strerror(saved)).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("notify", Napi::Function::New(env, Notify));
  return exports;
}

}  // namespace

NODE_API_MODULE(sdnotify, Init)
