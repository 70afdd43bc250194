// Makes fusermount3's auto_unmount reliable when this process is killed.
//
// With auto_unmount, fusermount3 stays alive holding one end of a socket pair whose other end
// libfuse keeps in this process; when the socket closes (this process died) it unmounts, but only
// if opening the mountpoint fails with ENOTCONN, i.e. the FUSE connection is already gone. A dying
// process closes its descriptors in ascending order, and libfuse's socket has a lower number than
// the FUSE device: fusermount3 could wake while the device is still open, get another error and
// leave the mount behind. Holding an extra reference to the socket above the device descriptor
// makes the device close first.
#pragma once

#include <set>

namespace fusebinding {

/** The descriptors open in this process now. */
std::set<int> OpenDescriptors();

/**
 * Finds the socket pair end libfuse opened while mounting (a new AF_UNIX stream socket created by
 * this process, among the descriptors not in `before`) and duplicates it above `deviceFd`.
 * Returns the duplicate (to close at unmount), or -1 when there is no single such socket; nothing
 * is closed or moved, so a wrong guess costs at most an extra reference until unmount.
 */
int PinAutoUnmountSocket(const std::set<int>& before, int deviceFd);

}  // namespace fusebinding
