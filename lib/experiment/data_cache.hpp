// Datasets loaded once per process, so the trials of a sweep (and forked children) share them.
#pragma once

#include <memory>
#include <string>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "experiment/config.hpp"

namespace bnlab::experiment {

// A train/test pair with the training set's per-channel normalization.
struct LoadedData {
  data::TrainTest sets;
  data::Normalization normalization;
};

// Loads the dataset a trial asks for, or returns the copy loaded earlier with the same options.
// Throws bnlab::DataError (from the loader) when the files are missing or corrupt.
std::shared_ptr<const LoadedData> load_data_cached(const DataSpec& spec);

// The key that identifies a dataset load: trials with equal keys share one copy.
std::string data_cache_key(const DataSpec& spec);

// Forgets every cached dataset (tests; a long-lived process between experiments).
void clear_data_cache();

}  // namespace bnlab::experiment
