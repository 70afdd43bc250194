#include "auto-unmount.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace fusebinding {

std::set<int> OpenDescriptors() {
  std::set<int> descriptors;
  DIR* directory = opendir("/proc/self/fd");
  if (directory == nullptr) return descriptors;
  int own = dirfd(directory);
  while (struct dirent* entry = readdir(directory)) {
    if (entry->d_name[0] == '.') continue;
    int fd = std::atoi(entry->d_name);
    if (fd != own) descriptors.insert(fd);
  }
  closedir(directory);
  return descriptors;
}

namespace {

/** True for an AF_UNIX stream socket whose peer credentials are this process (a socketpair of ours). */
bool IsOwnSocketPair(int fd) {
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) return false;
  int domain = 0;
  int type = 0;
  socklen_t length = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0 || domain != AF_UNIX) return false;
  length = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) return false;
  struct ucred credentials;
  length = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return false;
  return credentials.pid == getpid();
}

}  // namespace

int PinAutoUnmountSocket(const std::set<int>& before, int deviceFd) {
  std::vector<int> candidates;
  for (int fd : OpenDescriptors()) {
    if (fd != deviceFd && before.count(fd) == 0 && IsOwnSocketPair(fd)) candidates.push_back(fd);
  }
  if (candidates.size() != 1) return -1;
  return fcntl(candidates.front(), F_DUPFD_CLOEXEC, deviceFd + 1);
}

}  // namespace fusebinding
