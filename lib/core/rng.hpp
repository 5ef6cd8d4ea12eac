// Seeded random numbers with portable distributions, so a seed gives the same run on every platform.
#pragma once

#include <cstdint>
#include <random>

namespace bnlab::core {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : engine_(seed) {}

  std::uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 24 random bits (exact in float).
  float uniform() { return static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box–Muller; std::normal_distribution differs between standard libraries.
  float normal();
  float normal(float mean, float stddev) { return mean + stddev * normal(); }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n);
  // A seed for a child generator, so components draw independent streams from one trial seed.
  std::uint64_t split() { return engine_() ^ 0x9E3779B97F4A7C15ull; }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

}  // namespace bnlab::core
