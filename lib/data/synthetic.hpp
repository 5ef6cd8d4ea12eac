// A generated, learnable image-classification problem for tests and benchmarks, uint8 like the real sets.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.hpp"

namespace bnlab::data {

// `classes` classes, each a fixed random prototype image plus Gaussian noise. Deterministic in seed.
struct SyntheticOptions {
  std::size_t train = 512, test = 256, classes = 4, channels = 1, height = 8, width = 8;
  double noise = 0.35;  // noise std relative to the prototype contrast (pixels span [0, 1]); higher is harder
  std::uint64_t seed = 1;
};
TrainTest make_synthetic(const SyntheticOptions& options);
// What make_synthetic generates, without the sizes (e.g. "synthetic: 4 classes of 1x8x8 …, seed 1").
std::string synthetic_origin(const SyntheticOptions& options);

}  // namespace bnlab::data
