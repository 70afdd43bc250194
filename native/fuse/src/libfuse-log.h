// Where libfuse's own messages go. libfuse logs through one process-wide function; we route it so
// that messages logged while mounting become part of the mount error JavaScript sees (instead of
// stray lines on stderr), and everything else reaches stderr with a recognisable prefix.
#pragma once

#include <string>

namespace fusebinding {

/** Installs the log function (once per process; later calls do nothing). */
void InstallLibfuseLog();

/** Collects libfuse messages logged on the constructing thread while it is alive. */
class LibfuseLogCapture {
 public:
  LibfuseLogCapture();
  ~LibfuseLogCapture();
  LibfuseLogCapture(const LibfuseLogCapture&) = delete;
  LibfuseLogCapture& operator=(const LibfuseLogCapture&) = delete;

  /** The captured messages on one line, separated by "; ". */
  std::string Text() const;

 private:
  std::string* previous_;
  std::string text_;
};

/** Writes one message of this addon to stderr (printf-style). Safe on any thread. */
void LogError(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace fusebinding
