// The one include of libfuse's low-level API for this addon. FUSE_USE_VERSION is set by binding.gyp
// (3.5 API level: everything used here exists in libfuse >= 3.10, the oldest we build against).
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif

#if defined(__has_include)
#if !__has_include(<fuse_lowlevel.h>)
#error "libfuse 3 headers not found: install libfuse3-dev and pkg-config (Debian/Ubuntu) or fuse3 (nixpkgs)"
#endif
#endif

#include <fuse_lowlevel.h>
