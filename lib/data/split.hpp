// Class-balanced subsets and held-out splits of a Dataset, deterministic in the generator's seed.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "data/dataset.hpp"

namespace bnlab::data {

// Indices (ascending) of `count` samples in which every class keeps its share of the whole (largest
// remainder rounding), drawn at random within each class. count >= labels.size() selects everything.
std::vector<std::size_t> stratified_subset(const std::vector<std::int32_t>& labels, std::size_t classes,
                                           std::size_t count, core::Rng& rng);

// Keeps only the samples at `ascending` indices, compacting in place (no second copy of a large set).
void keep_samples(Dataset& dataset, const std::vector<std::size_t>& ascending);

// Moves a stratified subset of `held_out` samples out of `dataset` into the returned Dataset; the two
// are disjoint and together hold every original sample.
Dataset split_off(Dataset& dataset, std::size_t held_out, core::Rng& rng);

}  // namespace bnlab::data
