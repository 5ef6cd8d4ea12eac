// Turns a uint8 Dataset into shuffled, normalized, optionally augmented float mini-batches.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "data/dataset.hpp"

namespace bnlab::data {

// Per-channel statistics of the training images in [0, 1] units.
struct Normalization {
  std::vector<float> mean, stddev;
};
Normalization channel_statistics(const Dataset& train);

struct Augmentation {
  std::size_t crop_padding = 0;  // random crop with zero padding of this many pixels (0 = off)
  bool horizontal_flip = false;  // flip with probability 1/2
};

struct BatcherOptions {
  std::size_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  Augmentation augment;
};

class Batcher {
 public:
  // The dataset must outlive the batcher. seed drives shuffling and augmentation.
  Batcher(const Dataset& dataset, Normalization norm, BatcherOptions options, std::uint64_t seed);

  // Starts a new epoch (reshuffles when shuffle is on).
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
  core::Rng rng_;
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;
};

// Fills a batch from explicit sample indices, no augmentation (evaluation and probe batches).
void gather(const Dataset& dataset, const Normalization& norm, const std::vector<std::size_t>& indices,
            Tensor& images, std::vector<std::int32_t>& labels);

}  // namespace bnlab::data
