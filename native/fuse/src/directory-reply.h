// Directory replies that JavaScript packs itself in the kernel's wire layout (struct fuse_dirent
// for readdir, struct fuse_direntplus for readdirplus; <linux/fuse.h>, a stable ABI), so a reply of
// hundreds of entries crosses into the addon once. The bytes go to the kernel as they are, after
// CheckDirectoryReply has walked them: the same rules the per-entry path enforced hold here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fusebinding {

/**
 * Empty when `bytes` is a well-formed sequence of entries (readdirplus ones when `plus`);
 * otherwise what is wrong and at which entry. Checked: every record is whole and 8-byte padded
 * with zero padding; names are 1..255 bytes of UTF-8 without '/' or NUL; the next offset is in
 * (0, INT64_MAX]; the type is a 4-bit file type; an instantiated readdirplus entry (node id not 0)
 * has a mode with a known file type, its st_ino equal to its node id and the entry's ino, and
 * nanosecond fields below one second.
 */
std::string CheckDirectoryReply(const uint8_t* bytes, size_t length, bool plus);

}  // namespace fusebinding
