// Box–Muller normals and unbiased bounded integers.
#include "core/rng.hpp"

#include <cmath>

namespace bnlab::core {

float Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // 53-bit doubles keep the tails accurate; u1 is never 0.
  double u1 = (static_cast<double>(engine_() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0);
  double r = std::sqrt(-2.0 * std::log(u1));
  double t = 2.0 * M_PI * u2;
  spare_ = static_cast<float>(r * std::sin(t));
  has_spare_ = true;
  return static_cast<float>(r * std::cos(t));
}

std::uint64_t Rng::below(std::uint64_t n) {
  // Rejection sampling removes the modulo bias.
  std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t v;
  do v = engine_();
  while (v >= limit);
  return v % n;
}

}  // namespace bnlab::core
