// Turns a uint8 Dataset into shuffled, normalized, optionally augmented float mini-batches.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "data/augment.hpp"
#include "data/dataset.hpp"

namespace bnlab::data {

// Per-channel statistics of the training images in [0, 1] units (population std over all pixels).
// Empty vectors mean "no normalization": pixels are only scaled to [0, 1].
struct Normalization {
  std::vector<float> mean, stddev;
};
Normalization channel_statistics(const Dataset& train);

struct BatcherOptions {
  std::size_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // skip the final batch when it is smaller than batch_size
  Augmentation augment;
};

class Batcher {
 public:
  // The dataset must outlive the batcher. seed drives shuffling and augmentation (separate streams).
  // Throws bnlab::Error for an empty dataset, a zero batch size or statistics that do not fit.
  Batcher(const Dataset& dataset, Normalization norm, BatcherOptions options, std::uint64_t seed);

  // Starts a new epoch (reshuffles when shuffle is on). next() starts the first epoch by itself.
  void start_epoch();
  // Fills the next batch into images [B, C, H, W] and labels; returns false at the end of the epoch.
  // The tensors are reused between calls (no allocation once the batch shape is known).
  bool next(Tensor& images, std::vector<std::int32_t>& labels);
  std::size_t batches_per_epoch() const;
  const Dataset& dataset() const { return dataset_; }

 private:
  const Dataset& dataset_;
  Normalization norm_;
  BatcherOptions options_;
  core::Rng rng_, augment_rng_;
  std::vector<float> scale_, offset_;  // per channel: normalized = pixel · scale + offset
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;
  bool started_ = false;
};

// Fills a batch from explicit sample indices, no augmentation (evaluation and probe batches).
void gather(const Dataset& dataset, const Normalization& norm, const std::vector<std::size_t>& indices,
            Tensor& images, std::vector<std::int32_t>& labels);

}  // namespace bnlab::data
