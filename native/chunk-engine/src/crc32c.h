// CRC32C (Castagnoli) of byte ranges: the SSE4.2 crc32 instruction on x86-64 and the ARMv8 CRC
// instructions on aarch64 when the CPU has them (checked once at run time), a table otherwise.
// The values match the TypeScript side's crc32c(data, initial): `initial` continues a checksum.
#pragma once

#include <cstddef>
#include <cstdint>

namespace chunk_engine {

/** The CRC32C of `length` bytes at `data`, continuing from `initial` (0 to start). */
uint32_t Crc32c(const uint8_t* data, size_t length, uint32_t initial = 0);

/** The CRC32C of A followed by B, from crc(A), crc(B) and B's length, without the bytes. */
uint32_t Crc32cCombine(uint32_t first, uint32_t second, uint64_t secondLength);

/** The implementation in use: "sse4.2", "armv8" or "table". */
const char* Crc32cImplementation();

}  // namespace chunk_engine
