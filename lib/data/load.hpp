// Loads a named dataset from its directory (or generates the synthetic one), with limits and splits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "data/dataset.hpp"

namespace bnlab::data {

struct LoadOptions {
  std::string dataset;  // "mnist", "fashion-mnist", "cifar10" or "synthetic"
  std::string dir;      // where the files are; ignored for "synthetic"
  std::optional<std::size_t> train_limit, test_limit;  // stratified subsets (same seed, same subset)
  double validation_fraction = 0.0;  // > 0: the test split is carved from the training set instead
  std::uint64_t seed = 0;            // drives the subsets and the validation split
};

// Throws bnlab::DataError naming the file and, for a missing dataset, the fetch command to run.
TrainTest load(const LoadOptions& options);

// A generated, learnable problem for tests and benchmarks: `classes` classes, each a fixed random
// prototype image plus noise, uint8 like the real sets. Deterministic in seed.
struct SyntheticOptions {
  std::size_t train = 512, test = 256, classes = 4, channels = 1, height = 8, width = 8;
  double noise = 0.35;  // noise std relative to the prototype contrast; higher is harder
  std::uint64_t seed = 1;
};
TrainTest make_synthetic(const SyntheticOptions& options);

}  // namespace bnlab::data
