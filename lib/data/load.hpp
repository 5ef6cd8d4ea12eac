// Loads a named dataset from its directory (or generates the synthetic one), with limits and splits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "data/dataset.hpp"
#include "data/synthetic.hpp"

namespace bnlab::data {

struct LoadOptions {
  std::string dataset;  // "mnist", "fashion-mnist", "cifar10" or "synthetic"
  std::string dir;      // where the files are; ignored for "synthetic"
  // Stratified subsets (same seed, same subset). train_limit applies first, to the training file;
  // test_limit applies to whichever set becomes the test split (the validation split when carved).
  std::optional<std::size_t> train_limit, test_limit;
  double validation_fraction = 0.0;  // in [0, 1); > 0: the test split is carved (stratified) from training
  std::uint64_t seed = 0;            // drives the subsets and the validation split
};

// Dataset::source of both splits says where the data came from (the SOURCE file that
// scripts/fetch_data.sh writes into the directory, when present) and how many samples are used.
// Throws bnlab::DataError naming the file and, for a missing dataset, the fetch command to run.
TrainTest load(const LoadOptions& options);

// The directory layout: which files load() reads for a dataset, and the command that fetches them.
std::string fetch_command(const std::string& dataset);

}  // namespace bnlab::data
