#include "libfuse-log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "fuse-api.h"

namespace fusebinding {
namespace {

thread_local std::string* tlCapture = nullptr;
std::once_flag installed;

void Trim(std::string* text) {
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
}

void Route(enum fuse_log_level level, const char* format, va_list arguments) {
  char message[1024];
  vsnprintf(message, sizeof(message), format, arguments);
  std::string line(message);
  Trim(&line);
  if (line.empty()) return;
  if (tlCapture != nullptr && level <= FUSE_LOG_NOTICE) {
    if (!tlCapture->empty()) tlCapture->append("; ");
    tlCapture->append(line);
    return;
  }
  // Debug output (-o debug) is libfuse's request trace: print it as is.
  if (level >= FUSE_LOG_DEBUG) {
    fprintf(stderr, "%s\n", line.c_str());
  } else {
    fprintf(stderr, "native/fuse (libfuse): %s\n", line.c_str());
  }
}

}  // namespace

void InstallLibfuseLog() {
  std::call_once(installed, [] { fuse_set_log_func(Route); });
}

LibfuseLogCapture::LibfuseLogCapture() : previous_(tlCapture) { tlCapture = &text_; }

LibfuseLogCapture::~LibfuseLogCapture() { tlCapture = previous_; }

std::string LibfuseLogCapture::Text() const { return text_; }

void LogError(const char* format, ...) {
  char message[1024];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(message, sizeof(message), format, arguments);
  va_end(arguments);
  fprintf(stderr, "native/fuse: %s\n", message);
}

}  // namespace fusebinding
