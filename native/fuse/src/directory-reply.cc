#include "directory-reply.h"

#include <linux/fuse.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstring>

#include "js-values.h"

namespace fusebinding {
namespace {

// The layout the TypeScript writer (src/fuse/lowlevel/directory-writer.ts) packs; a change in the
// uapi header would be an ABI break, but it fails the build here rather than corrupt a listing.
static_assert(offsetof(struct fuse_dirent, ino) == 0, "fuse_dirent.ino");
static_assert(offsetof(struct fuse_dirent, off) == 8, "fuse_dirent.off");
static_assert(offsetof(struct fuse_dirent, namelen) == 16, "fuse_dirent.namelen");
static_assert(offsetof(struct fuse_dirent, type) == 20, "fuse_dirent.type");
static_assert(FUSE_NAME_OFFSET == 24, "fuse_dirent name offset");
static_assert(sizeof(struct fuse_attr) == 88, "fuse_attr size");
static_assert(sizeof(struct fuse_entry_out) == 128, "fuse_entry_out size");
static_assert(offsetof(struct fuse_entry_out, attr) == 40, "fuse_entry_out.attr");
static_assert(offsetof(struct fuse_direntplus, dirent) == 128, "fuse_direntplus.dirent");
static_assert(FUSE_NAME_OFFSET_DIRENTPLUS == 152, "fuse_direntplus name offset");

constexpr uint32_t kNameBytesMax = 255;
constexpr uint64_t kOffsetMax = static_cast<uint64_t>(INT64_MAX);
constexpr uint32_t kNanosMax = 999999999;

bool IsKnownFileType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      return true;
    default:
      return false;
  }
}

std::string At(size_t index, const char* problem) { return "directory entry " + std::to_string(index) + ": " + problem; }

/** What is wrong with an instantiated readdirplus entry's fuse_entry_out, or nullptr. */
const char* CheckEntryOut(const struct fuse_entry_out& entry, uint64_t direntIno) {
  if (entry.attr.ino != entry.nodeid || direntIno != entry.nodeid) return "ino differs between entry and attributes";
  if (!IsKnownFileType(entry.attr.mode)) return "attributes.mode must include a file type (S_IFREG, S_IFDIR, ...)";
  if (entry.entry_valid_nsec > kNanosMax || entry.attr_valid_nsec > kNanosMax) return "timeout nanoseconds out of range";
  if (entry.attr.atimensec > kNanosMax || entry.attr.mtimensec > kNanosMax || entry.attr.ctimensec > kNanosMax) {
    return "time nanoseconds out of range";
  }
  if (entry.attr.size > kOffsetMax || entry.attr.blocks > kOffsetMax) return "size or blocks too large";
  return nullptr;
}

}  // namespace

std::string CheckDirectoryReply(const uint8_t* bytes, size_t length, bool plus) {
  const size_t nameOffset = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
  size_t at = 0;
  for (size_t index = 0; at < length; ++index) {
    if (length - at < nameOffset) return At(index, "truncated");
    // Copied out: JavaScript's bytes need not be aligned for the structs.
    struct fuse_entry_out entry {};
    struct fuse_dirent dirent {};
    if (plus) std::memcpy(&entry, bytes + at, sizeof(entry));
    std::memcpy(&dirent, bytes + at + nameOffset - FUSE_NAME_OFFSET, FUSE_NAME_OFFSET);
    if (dirent.namelen == 0 || dirent.namelen > kNameBytesMax) return At(index, "name must be 1 to 255 bytes");
    size_t record = FUSE_DIRENT_ALIGN(nameOffset + dirent.namelen);
    if (length - at < record) return At(index, "truncated");
    const char* name = reinterpret_cast<const char*>(bytes + at + nameOffset);
    if (std::memchr(name, '/', dirent.namelen) != nullptr) return At(index, "name must not contain '/'");
    if (std::memchr(name, '\0', dirent.namelen) != nullptr) return At(index, "name must not contain NUL");
    if (!js::IsUtf8(name, dirent.namelen)) return At(index, "name must be UTF-8");
    for (size_t pad = nameOffset + dirent.namelen; pad < record; ++pad) {
      if (bytes[at + pad] != 0) return At(index, "padding must be zero");
    }
    if (dirent.off == 0 || dirent.off > kOffsetMax) return At(index, "nextOffset must be in (0, INT64_MAX]");
    if (dirent.type > (S_IFMT >> 12)) return At(index, "type must be a file type");
    if (plus && entry.nodeid != 0) {
      const char* problem = CheckEntryOut(entry, dirent.ino);
      if (problem != nullptr) return At(index, problem);
    }
    at += record;
  }
  return std::string();
}

}  // namespace fusebinding
