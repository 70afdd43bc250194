// Slots of the data files, by size class. A slot holds one block of a chunk: full blocks live in
// the largest class (the block size), a chunk's short last block in the smallest class it fits,
// so a small chunk does not take a whole block. Class c's file f holds `slotsPerFile(c)` slots;
// a slot is named by one 64-bit reference (class, file, index) that the block maps store.
//
// Invariants: a slot is free or used, never both; the allocator hands out the lowest free slot of
// the lowest file with room, so data files fill front to back and grow only when full. Not
// thread-safe: the engine calls it under its state lock.
#pragma once

#include <cstdint>
#include <vector>

namespace chunk_engine {

using SlotRef = uint64_t;

inline SlotRef MakeSlot(uint32_t sizeClass, uint32_t file, uint32_t index) {
  return (static_cast<uint64_t>(sizeClass) << 56) | (static_cast<uint64_t>(file) << 32) | index;
}
inline uint32_t SlotClass(SlotRef slot) { return static_cast<uint32_t>(slot >> 56); }
inline uint32_t SlotFile(SlotRef slot) { return static_cast<uint32_t>((slot >> 32) & 0xffffff); }
inline uint32_t SlotIndex(SlotRef slot) { return static_cast<uint32_t>(slot & 0xffffffffu); }

/** Size classes: slot sizes from the smallest to the block size, doubling. */
struct SizeClasses {
  std::vector<uint32_t> slotBytes;
  uint64_t fileBytes = 0;  // bytes per data file (a multiple of every slot size)

  static SizeClasses Make(uint32_t blockBytes, uint32_t minSlotBytes, uint64_t fileBytes);
  /** The smallest class whose slot holds `length` bytes. */
  uint32_t ClassFor(uint32_t length) const;
  uint32_t SlotsPerFile(uint32_t sizeClass) const;
};

class SlotAllocator {
 public:
  explicit SlotAllocator(SizeClasses classes);

  SlotRef Allocate(uint32_t sizeClass);
  void Free(SlotRef slot);
  /** Marks a slot used while replaying metadata; false when it already was (a double reference). */
  bool MarkUsed(SlotRef slot);
  bool IsUsed(SlotRef slot) const;
  /** True when the reference names a slot that can exist under these classes. */
  bool Valid(SlotRef slot) const;
  uint64_t UsedSlots() const { return used_; }
  const SizeClasses& classes() const { return classes_; }

 private:
  struct File {
    std::vector<uint64_t> bits;
    uint32_t used = 0;
    uint32_t hint = 0;  // no free slot below word `hint`
  };
  struct ClassFiles {
    std::vector<File> files;
    uint32_t firstWithRoom = 0;  // no file below it has a free slot
  };
  File& FileOf(uint32_t sizeClass, uint32_t file);

  SizeClasses classes_;
  std::vector<ClassFiles> byClass_;
  uint64_t used_ = 0;
};

}  // namespace chunk_engine
