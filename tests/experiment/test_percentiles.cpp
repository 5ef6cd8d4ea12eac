// Percentiles: numpy's interpolation, and exact order statistics against a full sort.
#include "experiment/percentiles.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

using namespace bnlab::experiment;

namespace {

// numpy.percentile's linear interpolation on a sorted copy: the reference.
double sorted_percentile(std::vector<float> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(lo);
  if (frac == 0.0 || lo + 1 >= v.size()) return v[lo];
  return v[lo] + frac * (double(v[lo + 1]) - double(v[lo]));
}

}  // namespace

TEST_CASE("percentiles/interpolate like numpy", "[runner][probes]") {
  // numpy.percentile([4, 1, 3, 2, 5], [15, 50, 85]) == [1.6, 3.0, 4.4]
  const std::vector<float> v{4, 1, 3, 2, 5};
  const auto p = percentiles<3>(v.data(), 5, {0.15, 0.50, 0.85});
  CHECK(p[0] == Approx(1.6));
  CHECK(p[1] == Approx(3.0));
  CHECK(p[2] == Approx(4.4));
  CHECK(percentile(v.data(), 5, 0.0) == 1);
  CHECK(percentile(v.data(), 5, 1.0) == 5);
  const std::vector<float> one{7};
  CHECK(percentile(one.data(), 1, 0.85) == 7);
  // Only the first count values take part.
  const std::vector<float> prefix{10, 20, 1000};
  CHECK(percentile(prefix.data(), 2, 0.5) == Approx(15));
  CHECK(std::isnan(percentile(prefix.data(), 0, 0.5)));
  // The values are read, not reordered.
  CHECK(v == std::vector<float>{4, 1, 3, 2, 5});
}

TEST_CASE("percentiles/exactly the sorted order statistics", "[runner][probes]") {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  // Negative and positive values, many exact ties (a ReLU's zeros, both signs of zero), values that
  // share their high 16 bits, huge and tiny magnitudes, infinities.
  std::vector<float> v;
  for (int i = 0; i < 200000; ++i) {
    const int kind = i % 7;
    float x = normal(rng);
    if (kind == 0) x = 0.0f;
    if (kind == 1) x = -0.0f;
    if (kind == 2) x = std::max(x, 0.0f);
    if (kind == 3) x = 1.0f + static_cast<float>(i % 1000) * 1e-7f;
    if (kind == 4) x = x * 1e30f;
    if (kind == 5) x = x * 1e-30f;
    v.push_back(x);
  }
  v.push_back(std::numeric_limits<float>::infinity());
  v.push_back(-std::numeric_limits<float>::infinity());
  std::shuffle(v.begin(), v.end(), rng);
  for (std::size_t count : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{1000}, v.size()}) {
    const std::vector<float> head(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(count));
    for (double q : {0.0, 0.01, 0.15, 0.5, 0.85, 0.999, 1.0}) {
      CAPTURE(count, q);
      const double expected = sorted_percentile(head, q);
      const double got = percentile(head.data(), count, q);
      CHECK(got == expected);  // exact: the same order statistics and the same arithmetic
    }
    const auto three = percentiles<3>(head.data(), count, {0.15, 0.5, 0.85});
    CHECK(three[0] == sorted_percentile(head, 0.15));
    CHECK(three[1] == sorted_percentile(head, 0.5));
    CHECK(three[2] == sorted_percentile(head, 0.85));
  }
}
