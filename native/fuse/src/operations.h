// The libfuse low-level callbacks. They run on worker threads: each copies its arguments into a
// Request and queues it for JavaScript (SessionCore::Dispatch); none blocks on JavaScript.
#pragma once

#include <string>
#include <vector>

#include "fuse-api.h"

namespace fusebinding {

/**
 * The callback table for the handlers JavaScript implements (names as in FuseOperations). An
 * operation left out stays null, so libfuse and the kernel apply their documented defaults
 * (ENOSYS, remembered by the kernel for flush, fsync, xattrs, fallocate, ...; success for opendir
 * and release; local locking when getlk/setlk/flock are absent).
 */
fuse_lowlevel_ops BuildOperations(const std::vector<std::string>& names);

/** True when `name` is an operation this binding can register. */
bool IsKnownOperation(const std::string& name);

}  // namespace fusebinding
