// Mini-batch assembly: seeded order, per-channel affine normalization and crop/flip straight into the
// caller's tensors.
#include "data/batcher.hpp"

#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace bnlab::data {
namespace {

void check_normalization(const Normalization& norm, std::size_t channels) {
  if (norm.mean.empty() && norm.stddev.empty()) return;
  if (norm.mean.size() != channels || norm.stddev.size() != channels)
    throw Error("normalization has " + std::to_string(norm.mean.size()) + " means and " +
                std::to_string(norm.stddev.size()) + " standard deviations for " + std::to_string(channels) +
                " channels");
  for (std::size_t c = 0; c < channels; ++c)
    if (!(norm.stddev[c] > 0.0f) || !std::isfinite(norm.mean[c]))
      throw Error("normalization of channel " + std::to_string(c) + " has mean " +
                  std::to_string(norm.mean[c]) + " and standard deviation " + std::to_string(norm.stddev[c]) +
                  " (must be finite and > 0)");
}

// normalized = (pixel/255 − mean)/std = pixel · scale + offset.
void channel_affine(const Normalization& norm, std::size_t c, float& scale, float& offset) {
  if (norm.mean.empty()) {
    scale = 1.0f / 255.0f;
    offset = 0.0f;
    return;
  }
  scale = 1.0f / (255.0f * norm.stddev[c]);
  offset = -norm.mean[c] / norm.stddev[c];
}

void prepare_batch(const Dataset& dataset, std::size_t count, Tensor& images,
                   std::vector<std::int32_t>& labels) {
  ensure_shape(images, {count, dataset.channels, dataset.height, dataset.width});
  labels.resize(count);  // within capacity after the first full batch: no allocation
}

}  // namespace

Normalization channel_statistics(const Dataset& train) {
  if (train.size() == 0 || train.sample_size() == 0)
    throw Error("cannot compute channel statistics of the empty dataset " + train.name);
  const std::size_t plane = train.height * train.width;
  // Integer sums are exact (255² · 60,000 · 3,072 < 2⁶⁴), so the statistics do not depend on order.
  std::vector<std::uint64_t> sum(train.channels, 0), sum_sq(train.channels, 0);
  const std::uint8_t* pixels = train.images.data();
  for (std::size_t i = 0; i < train.size(); ++i)
    for (std::size_t c = 0; c < train.channels; ++c) {
      const std::uint8_t* p = pixels + (i * train.channels + c) * plane;
      std::uint64_t s = 0, s2 = 0;
      for (std::size_t j = 0; j < plane; ++j) {
        s += p[j];
        s2 += static_cast<std::uint32_t>(p[j]) * p[j];
      }
      sum[c] += s;
      sum_sq[c] += s2;
    }
  Normalization norm;
  const double n = static_cast<double>(train.size()) * static_cast<double>(plane);
  for (std::size_t c = 0; c < train.channels; ++c) {
    const double mean = static_cast<double>(sum[c]) / n;
    const double var = std::max(0.0, static_cast<double>(sum_sq[c]) / n - mean * mean);
    norm.mean.push_back(static_cast<float>(mean / 255.0));
    norm.stddev.push_back(static_cast<float>(std::sqrt(var) / 255.0));
  }
  return norm;
}

Batcher::Batcher(const Dataset& dataset, Normalization norm, BatcherOptions options, std::uint64_t seed)
    : dataset_(dataset), norm_(std::move(norm)), options_(options), rng_(seed), augment_rng_(rng_.split()) {
  if (dataset_.size() == 0) throw Error("cannot batch the empty dataset " + dataset_.name);
  if (options_.batch_size == 0) throw Error("batch size must be positive");
  if (options_.augment.crop_padding > dataset_.height || options_.augment.crop_padding > dataset_.width)
    throw Error("crop padding " + std::to_string(options_.augment.crop_padding) + " exceeds the " +
                std::to_string(dataset_.height) + "x" + std::to_string(dataset_.width) + " images of " +
                dataset_.name);
  check_normalization(norm_, dataset_.channels);
  scale_.resize(dataset_.channels);
  offset_.resize(dataset_.channels);
  for (std::size_t c = 0; c < dataset_.channels; ++c) channel_affine(norm_, c, scale_[c], offset_[c]);
  order_.resize(dataset_.size());
}

void Batcher::start_epoch() {
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  if (options_.shuffle)
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng_.below(i)]);
  cursor_ = 0;
  started_ = true;
}

std::size_t Batcher::batches_per_epoch() const {
  const std::size_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

bool Batcher::next(Tensor& images, std::vector<std::int32_t>& labels) {
  if (!started_) start_epoch();
  const std::size_t remaining = order_.size() - cursor_;
  if (remaining == 0 || (options_.drop_last && remaining < options_.batch_size)) return false;
  const std::size_t count = std::min(remaining, options_.batch_size);
  prepare_batch(dataset_, count, images, labels);

  const std::size_t channels = dataset_.channels, plane = dataset_.height * dataset_.width;
  const std::size_t sample = dataset_.sample_size();
  const Augmentation& aug = options_.augment;
  float* out = images.data();
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t index = order_[cursor_ + k];
    CropFlip crop;
    crop.padding = aug.crop_padding;
    crop.dy = crop.dx = aug.crop_padding;  // centred: no shift
    if (aug.crop_padding > 0) {
      crop.dy = augment_rng_.below(2 * aug.crop_padding + 1);
      crop.dx = augment_rng_.below(2 * aug.crop_padding + 1);
    }
    if (aug.horizontal_flip) crop.flip = augment_rng_.below(2) == 1;
    const std::uint8_t* src = dataset_.images.data() + index * sample;
    for (std::size_t c = 0; c < channels; ++c)
      write_plane(src + c * plane, dataset_.height, dataset_.width, scale_[c], offset_[c], crop,
                  out + (k * channels + c) * plane);
    labels[k] = dataset_.labels[index];
  }
  cursor_ += count;
  return true;
}

void gather(const Dataset& dataset, const Normalization& norm, const std::vector<std::size_t>& indices,
            Tensor& images, std::vector<std::int32_t>& labels) {
  check_normalization(norm, dataset.channels);
  prepare_batch(dataset, indices.size(), images, labels);
  const std::size_t channels = dataset.channels, plane = dataset.height * dataset.width;
  const std::size_t sample = dataset.sample_size();
  float* out = images.data();
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::size_t index = indices[k];
    if (index >= dataset.size())
      throw Error("gather: sample index " + std::to_string(index) + " is outside " + dataset.name + " (" +
                  std::to_string(dataset.size()) + " samples)");
    const std::uint8_t* src = dataset.images.data() + index * sample;
    for (std::size_t c = 0; c < channels; ++c) {
      float scale, offset;
      channel_affine(norm, c, scale, offset);
      write_plane(src + c * plane, dataset.height, dataset.width, scale, offset, CropFlip{},
                  out + (k * channels + c) * plane);
    }
    labels[k] = dataset.labels[index];
  }
}

}  // namespace bnlab::data
