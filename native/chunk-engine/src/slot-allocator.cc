#include "slot-allocator.h"

#include <stdexcept>

namespace chunk_engine {

SizeClasses SizeClasses::Make(uint32_t blockBytes, uint32_t minSlotBytes, uint64_t fileBytes) {
  SizeClasses classes;
  std::vector<uint32_t> descending{blockBytes};
  uint32_t size = blockBytes;
  while (size % 2 == 0 && size / 2 >= minSlotBytes) {
    size /= 2;
    descending.push_back(size);
  }
  classes.slotBytes.assign(descending.rbegin(), descending.rend());
  // Every class divides the block size, so a file of whole blocks holds whole slots of each.
  uint64_t blocks = fileBytes / blockBytes;
  if (blocks == 0) blocks = 1;
  if (blocks > 0xffffffffull / 16) blocks = 0xffffffffull / 16;  // slot indexes stay u32
  classes.fileBytes = blocks * blockBytes;
  return classes;
}

uint32_t SizeClasses::ClassFor(uint32_t length) const {
  for (uint32_t index = 0; index < slotBytes.size(); index++) {
    if (slotBytes[index] >= length) return index;
  }
  throw std::logic_error("a block is longer than the block size");
}

uint32_t SizeClasses::SlotsPerFile(uint32_t sizeClass) const {
  return static_cast<uint32_t>(fileBytes / slotBytes.at(sizeClass));
}

SlotAllocator::SlotAllocator(SizeClasses classes)
    : classes_(std::move(classes)), byClass_(classes_.slotBytes.size()) {}

SlotAllocator::File& SlotAllocator::FileOf(uint32_t sizeClass, uint32_t file) {
  auto& files = byClass_.at(sizeClass).files;
  while (files.size() <= file) {
    File fresh;
    fresh.bits.assign((classes_.SlotsPerFile(sizeClass) + 63) / 64, 0);
    files.push_back(std::move(fresh));
  }
  return files[file];
}

SlotRef SlotAllocator::Allocate(uint32_t sizeClass) {
  ClassFiles& owner = byClass_.at(sizeClass);
  const uint32_t perFile = classes_.SlotsPerFile(sizeClass);
  for (uint32_t fileIndex = owner.firstWithRoom; fileIndex < (1u << 24); fileIndex++) {
    File& file = FileOf(sizeClass, fileIndex);
    if (file.used == perFile) {
      if (owner.firstWithRoom == fileIndex) owner.firstWithRoom = fileIndex + 1;
      continue;
    }
    for (uint32_t pass = 0; pass < 2; pass++) {
      for (uint32_t word = pass == 0 ? file.hint : 0; word < file.bits.size(); word++) {
        if (file.bits[word] == ~0ull) continue;
        uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(~file.bits[word]));
        uint32_t index = word * 64 + bit;
        if (index >= perFile) break;
        file.bits[word] |= 1ull << bit;
        file.used++;
        file.hint = word;
        used_++;
        return MakeSlot(sizeClass, fileIndex, index);
      }
    }
    throw std::logic_error("a data file's free count disagrees with its bitmap");
  }
  throw std::runtime_error("no slot is left in any data file of the size class");
}

void SlotAllocator::Free(SlotRef slot) {
  if (!IsUsed(slot)) throw std::logic_error("a slot freed twice");
  File& file = FileOf(SlotClass(slot), SlotFile(slot));
  uint32_t index = SlotIndex(slot);
  file.bits[index / 64] &= ~(1ull << (index % 64));
  file.used--;
  if (index / 64 < file.hint) file.hint = index / 64;
  ClassFiles& owner = byClass_[SlotClass(slot)];
  if (SlotFile(slot) < owner.firstWithRoom) owner.firstWithRoom = SlotFile(slot);
  used_--;
}

bool SlotAllocator::MarkUsed(SlotRef slot) {
  if (IsUsed(slot)) return false;
  File& file = FileOf(SlotClass(slot), SlotFile(slot));
  uint32_t index = SlotIndex(slot);
  file.bits[index / 64] |= 1ull << (index % 64);
  file.used++;
  used_++;
  return true;
}

bool SlotAllocator::Valid(SlotRef slot) const {
  uint32_t sizeClass = SlotClass(slot);
  if (sizeClass >= classes_.slotBytes.size()) return false;
  return SlotIndex(slot) < classes_.SlotsPerFile(sizeClass);
}

bool SlotAllocator::IsUsed(SlotRef slot) const {
  if (!Valid(slot)) return false;
  const auto& files = byClass_[SlotClass(slot)].files;
  if (SlotFile(slot) >= files.size()) return false;
  uint32_t index = SlotIndex(slot);
  return (files[SlotFile(slot)].bits[index / 64] >> (index % 64)) & 1;
}

}  // namespace chunk_engine
