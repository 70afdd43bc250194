// CRC32C with a run-time choice of implementation. The hardware paths consume eight bytes per
// instruction, three streams at once on long inputs; the table path (slicing by eight) serves CPUs without them. The choice is made once,
// at first use, from cpuid (x86-64) or the kernel's hardware capabilities (aarch64).
#include "crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace chunk_engine {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<uint32_t, 256>, 8>;

Tables BuildTables() {
  Tables tables{};
  for (uint32_t byte = 0; byte < 256; byte++) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? (crc >> 1) ^ kPolynomial : crc >> 1;
    tables[0][byte] = crc;
  }
  for (uint32_t byte = 0; byte < 256; byte++) {
    for (int slice = 1; slice < 8; slice++) {
      uint32_t previous = tables[slice - 1][byte];
      tables[slice][byte] = (previous >> 8) ^ tables[0][previous & 0xff];
    }
  }
  return tables;
}

const Tables& SharedTables() {
  static const Tables tables = BuildTables();
  return tables;
}

// The raw (not inverted) register update over the bytes, by table.
uint32_t UpdateTable(uint32_t crc, const uint8_t* data, size_t length) {
  const Tables& t = SharedTables();
  while (length >= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    word ^= crc;
    crc = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^ t[5][(word >> 16) & 0xff] ^
          t[4][(word >> 24) & 0xff] ^ t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^
          t[1][(word >> 48) & 0xff] ^ t[0][(word >> 56) & 0xff];
    data += 8;
    length -= 8;
  }
  while (length-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *data++) & 0xff];
  return crc;
}

// a * b modulo the polynomial, both reflected (x^0 in the top bit).
uint32_t MultiplyModulo(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t mask = 0x80000000u; mask != 0; mask >>= 1) {
    if (a & mask) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(2^k) modulo the polynomial for k = 0..63.
std::array<uint32_t, 64> BuildPowers() {
  std::array<uint32_t, 64> powers{};
  uint32_t power = 0x40000000u;  // x^1
  for (auto& entry : powers) {
    entry = power;
    power = MultiplyModulo(power, power);
  }
  return powers;
}

// Long inputs are summed as three interleaved streams of kStride bytes each: the crc32
// instruction takes three cycles to deliver but accepts one per cycle, so three independent
// registers keep it busy. The streams are joined by shifting a register past kStride zero bytes,
// a multiplication by x^(8 * kStride) done by four table lookups (one per byte of the register).
constexpr size_t kStride = 4096;

using ShiftTables = std::array<std::array<uint32_t, 256>, 4>;

const ShiftTables& StrideShift() {
  static const ShiftTables tables = [] {
    const std::array<uint32_t, 64> powers = BuildPowers();
    uint32_t op = 0x80000000u;  // x^0
    uint64_t bits = kStride;
    for (int k = 3; bits != 0; k++, bits >>= 1) {
      if (bits & 1) op = MultiplyModulo(powers[k], op);
    }
    ShiftTables built{};
    for (uint32_t slice = 0; slice < 4; slice++) {
      for (uint32_t byte = 0; byte < 256; byte++) built[slice][byte] = MultiplyModulo(op, byte << (8 * slice));
    }
    return built;
  }();
  return tables;
}

// The register after kStride zero bytes more.
inline uint32_t ShiftStride(uint32_t crc) {
  const ShiftTables& t = StrideShift();
  return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t UpdateSerial(uint32_t crc, const uint8_t* data, size_t length) {
  uint64_t wide = crc;
  while (length >= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    wide = _mm_crc32_u64(wide, word);
    data += 8;
    length -= 8;
  }
  uint32_t narrow = static_cast<uint32_t>(wide);
  while (length-- > 0) narrow = _mm_crc32_u8(narrow, *data++);
  return narrow;
}

__attribute__((target("sse4.2"))) uint32_t UpdateHardware(uint32_t crc, const uint8_t* data,
                                                          size_t length) {
  while (length >= 3 * kStride) {
    uint64_t first = crc, second = 0, third = 0;
    for (size_t at = 0; at < kStride; at += 8) {
      uint64_t a, b, c;
      std::memcpy(&a, data + at, 8);
      std::memcpy(&b, data + kStride + at, 8);
      std::memcpy(&c, data + 2 * kStride + at, 8);
      first = _mm_crc32_u64(first, a);
      second = _mm_crc32_u64(second, b);
      third = _mm_crc32_u64(third, c);
    }
    crc = ShiftStride(ShiftStride(static_cast<uint32_t>(first)) ^ static_cast<uint32_t>(second)) ^
          static_cast<uint32_t>(third);
    data += 3 * kStride;
    length -= 3 * kStride;
  }
  return UpdateSerial(crc, data, length);
}

bool HardwareAvailable() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & bit_SSE4_2) != 0;
}
constexpr const char* kHardwareName = "sse4.2";
#elif defined(__aarch64__)
__attribute__((target("+crc"))) uint32_t UpdateSerial(uint32_t crc, const uint8_t* data, size_t length) {
  while (length >= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    crc = __crc32cd(crc, word);
    data += 8;
    length -= 8;
  }
  while (length-- > 0) crc = __crc32cb(crc, *data++);
  return crc;
}

__attribute__((target("+crc"))) uint32_t UpdateHardware(uint32_t crc, const uint8_t* data,
                                                        size_t length) {
  while (length >= 3 * kStride) {
    uint32_t first = crc, second = 0, third = 0;
    for (size_t at = 0; at < kStride; at += 8) {
      uint64_t a, b, c;
      std::memcpy(&a, data + at, 8);
      std::memcpy(&b, data + kStride + at, 8);
      std::memcpy(&c, data + 2 * kStride + at, 8);
      first = __crc32cd(first, a);
      second = __crc32cd(second, b);
      third = __crc32cd(third, c);
    }
    crc = ShiftStride(ShiftStride(first) ^ second) ^ third;
    data += 3 * kStride;
    length -= 3 * kStride;
  }
  return UpdateSerial(crc, data, length);
}

bool HardwareAvailable() { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
constexpr const char* kHardwareName = "armv8";
#else
uint32_t UpdateHardware(uint32_t crc, const uint8_t* data, size_t length) {
  return UpdateTable(crc, data, length);
}
bool HardwareAvailable() { return false; }
constexpr const char* kHardwareName = "table";
#endif

using UpdateFunction = uint32_t (*)(uint32_t, const uint8_t*, size_t);

UpdateFunction ChosenUpdate() {
  static const UpdateFunction chosen = HardwareAvailable() ? UpdateHardware : UpdateTable;
  return chosen;
}

}  // namespace

uint32_t Crc32c(const uint8_t* data, size_t length, uint32_t initial) {
  return ~ChosenUpdate()(~initial, data, length);
}

uint32_t Crc32cCombine(uint32_t first, uint32_t second, uint64_t secondLength) {
  static const std::array<uint32_t, 64> powers = BuildPowers();
  // Shift `first` past secondLength zero bytes (x^(8 * secondLength)), then add `second`.
  uint32_t shifted = first;
  uint64_t bits = secondLength;
  for (int k = 3; bits != 0 && k < 64; k++, bits >>= 1) {
    if (bits & 1) shifted = MultiplyModulo(powers[k], shifted);
  }
  return shifted ^ second;
}

const char* Crc32cImplementation() { return HardwareAvailable() ? kHardwareName : "table"; }

}  // namespace chunk_engine
