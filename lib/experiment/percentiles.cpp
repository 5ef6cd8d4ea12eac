// Radix selection of order statistics: a histogram of the high 16 bits of each value's order key finds
// the bucket of every wanted rank, a second pass histograms the low 16 bits within those buckets.
#include "experiment/percentiles.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace bnlab::experiment {

namespace detail {

namespace {

constexpr std::size_t kBuckets = std::size_t{1} << 16;

// Unsigned keys in the order of the floats: positives above negatives, larger magnitude of a negative
// lower. Without branches (the signs of activations are random: a branch mispredicted half the time);
// v + 0 turns -0 into +0 so equal values share a key.
std::uint32_t order_key(float v) {
  const float canonical = v + 0.0f;
  std::uint32_t bits;
  std::memcpy(&bits, &canonical, sizeof bits);
  const std::uint32_t negative = static_cast<std::uint32_t>(static_cast<std::int32_t>(bits) >> 31);
  return bits ^ (negative | 0x80000000u);
}

float value_of_key(std::uint32_t key) {
  const std::uint32_t bits = (key & 0x80000000u) ? (key ^ 0x80000000u) : ~key;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// For ranks visited in increasing order: the bucket of each and its rank inside the bucket.
struct Located {
  std::size_t bucket, within;
};

std::vector<Located> locate(const std::vector<std::uint32_t>& histogram,
                            const std::vector<std::size_t>& ranks, const std::vector<std::size_t>& order) {
  std::vector<Located> located(ranks.size());
  std::size_t bucket = 0, below = 0;  // values in buckets before `bucket`
  for (std::size_t i : order) {
    while (below + histogram[bucket] <= ranks[i]) below += histogram[bucket++];
    located[i] = {bucket, ranks[i] - below};
  }
  return located;
}

}  // namespace

RankPosition rank_position(std::size_t count, double q) {
  const double pos = q * static_cast<double>(count - 1);
  const std::size_t lo = std::min(static_cast<std::size_t>(std::floor(pos)), count - 1);
  const double frac = pos - static_cast<double>(lo);
  return {lo, frac, frac != 0.0 && lo + 1 < count};
}

std::vector<float> order_statistics(const float* values, std::size_t count,
                                    const std::vector<std::size_t>& ranks) {
  if (count > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("order_statistics: more values than 32-bit counts hold");
  std::vector<std::size_t> order(ranks.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ranks[a] < ranks[b]; });

  std::vector<std::uint32_t> high(kBuckets, 0);
  for (std::size_t i = 0; i < count; ++i) ++high[order_key(values[i]) >> 16];
  const std::vector<Located> in_bucket = locate(high, ranks, order);

  // The distinct buckets holding a wanted rank, each with its own histogram of low halves; slot 0 takes
  // the values of every other bucket and is never read, so the counting loop has no branch.
  std::vector<std::uint8_t> slot_of(kBuckets, 0);
  std::size_t slots = 1;
  for (const Located& l : in_bucket)
    if (slot_of[l.bucket] == 0) {
      if (slots > 255) throw std::length_error("order_statistics: at most 255 distinct buckets");
      slot_of[l.bucket] = static_cast<std::uint8_t>(slots++);
    }
  std::vector<std::uint32_t> low(slots * kBuckets, 0);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t key = order_key(values[i]);
    ++low[slot_of[key >> 16] * kBuckets + (key & 0xFFFFu)];
  }

  std::vector<float> out(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const std::size_t bucket = in_bucket[i].bucket;
    const std::uint32_t* h = low.data() + slot_of[bucket] * kBuckets;
    std::size_t j = 0, below = 0;
    while (below + h[j] <= in_bucket[i].within) below += h[j++];
    out[i] = value_of_key(static_cast<std::uint32_t>((bucket << 16) | j));
  }
  return out;
}

}  // namespace detail

double percentile(const float* values, std::size_t count, double q) {
  return percentiles<1>(values, count, {q})[0];
}

}  // namespace bnlab::experiment
