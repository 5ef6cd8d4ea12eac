// run_moments: the AVX-512 loop against the portable one bit for bit, and both against a two-pass
// reference in long double.
#include "nn/run_moments.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "core/rng.hpp"

using namespace bnlab;

namespace {

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

TEST_CASE("run_moments/equals the portable loop bit for bit", "[nn][run_moments]") {
  // Lengths around the 8-value loads and 32-lane groups, and the planes of the reference CNNs (14×14,
  // 28×28); a large offset, values of very different sizes (any other order of the additions changes the
  // bits), and an infinite or NaN value.
  core::Rng rng(43);
  for (const std::size_t n : {1, 2, 7, 8, 9, 16, 31, 32, 33, 49, 63, 64, 65, 196, 257, 784}) {
    for (const int kind : {0, 1, 2, 3}) {
      CAPTURE(n, kind);
      std::vector<float> x(n);
      for (auto& v : x) {
        v = rng.normal(0.5f, 2.0f);
        if (kind == 1) v += 1e4f;
        if (kind == 2 && rng.uniform(0.0f, 1.0f) < 0.1f) v *= 1e12f;
      }
      // A first value far below the others: x − x₀ then has more bits than a double holds, and so has its
      // square, so a multiply and add instead of the fused one changes the sum.
      if (kind == 2) x[0] = 1e-3f;
      if (kind == 3)
        x[n / 2] = n % 2 ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
      double fast_mean, fast_m2, ref_mean, ref_m2;
      nn::run_moments(x.data(), n, fast_mean, fast_m2);
      nn::run_moments_portable(x.data(), n, ref_mean, ref_m2);
      CHECK(same_bits(fast_mean, ref_mean));
      CHECK(same_bits(fast_m2, ref_m2));
    }
  }
}

TEST_CASE("run_moments/agree with the two-pass moments", "[nn][run_moments]") {
  // Far from zero (mean 1000, σ 0.01): the shift by the first value keeps the variance accurate where
  // Σx² − (Σx)²/n in double would lose it.
  core::Rng rng(44);
  for (const std::size_t n : {1, 5, 196, 784}) {
    CAPTURE(n);
    std::vector<float> x(n);
    for (auto& v : x) v = 1000.0f + rng.normal(0.0f, 0.01f);
    long double sum = 0;
    for (float v : x) sum += v;
    const long double mean = sum / n;
    long double m2 = 0;
    for (float v : x) m2 += (v - mean) * (v - mean);
    for (const bool portable : {false, true}) {
      double got_mean, got_m2;
      (portable ? nn::run_moments_portable : nn::run_moments)(x.data(), n, got_mean, got_m2);
      CHECK(got_mean == Approx(static_cast<double>(mean)).epsilon(1e-12));
      CHECK(got_m2 == Approx(static_cast<double>(m2)).epsilon(1e-9).margin(1e-12));
    }
  }
}
