// Software prefetch for the streaming passes of the norm layers.
#pragma once

#include <cstddef>

namespace bnlab::core {

inline constexpr std::size_t kCacheLine = 64;

// Asks for the cache lines of [data, data + bytes) ahead of use. The per-channel passes of the norm layers
// read runs of a few KB between other work (an unpooled plane, a GEMM), too short for the hardware
// prefetchers to ramp up on: a run fetched while the one before it is worked on arrives in time.
inline void prefetch(const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  for (std::size_t at = 0; at < bytes; at += kCacheLine) __builtin_prefetch(p + at);
}

}  // namespace bnlab::core
