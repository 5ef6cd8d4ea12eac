// Prototype-plus-noise images with balanced classes in shuffled order.
#include "data/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace bnlab::data {
namespace {

Dataset make_split(const SyntheticOptions& o, const std::vector<float>& prototypes, std::size_t count,
                   core::Rng& rng) {
  Dataset d;
  d.name = "synthetic";
  d.channels = o.channels;
  d.height = o.height;
  d.width = o.width;
  for (std::size_t c = 0; c < o.classes; ++c) d.class_names.push_back("class " + std::to_string(c));
  // Balanced labels (0, 1, …, classes−1, 0, …) in a seeded random order.
  d.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) d.labels[i] = static_cast<std::int32_t>(i % o.classes);
  for (std::size_t i = count; i > 1; --i) std::swap(d.labels[i - 1], d.labels[rng.below(i)]);
  const std::size_t sample = d.sample_size();
  d.images.resize(count * sample);
  const float noise = static_cast<float>(o.noise);
  for (std::size_t i = 0; i < count; ++i) {
    const float* proto = prototypes.data() + static_cast<std::size_t>(d.labels[i]) * sample;
    std::uint8_t* out = d.images.data() + i * sample;
    for (std::size_t j = 0; j < sample; ++j) {
      const float v = std::clamp(proto[j] + noise * rng.normal(), 0.0f, 1.0f);
      out[j] = static_cast<std::uint8_t>(std::lround(v * 255.0f));
    }
  }
  return d;
}

}  // namespace

std::string synthetic_origin(const SyntheticOptions& o) {
  char noise[32];
  std::snprintf(noise, sizeof noise, "%g", o.noise);
  return "synthetic: " + std::to_string(o.classes) + " classes of " + std::to_string(o.channels) + "x" +
         std::to_string(o.height) + "x" + std::to_string(o.width) + " prototype + noise " + noise +
         ", seed " + std::to_string(o.seed);
}

TrainTest make_synthetic(const SyntheticOptions& o) {
  if (o.classes < 2)
    throw DataError("synthetic dataset: classes must be at least 2, got " + std::to_string(o.classes));
  if (o.classes > 256)
    throw DataError("synthetic dataset: at most 256 classes, got " + std::to_string(o.classes));
  if (o.train == 0 || o.test == 0)
    throw DataError("synthetic dataset: train and test sizes must be positive");
  if (o.channels == 0 || o.height == 0 || o.width == 0)
    throw DataError("synthetic dataset: channels, height and width must be positive");
  if (!(o.noise >= 0.0))
    throw DataError("synthetic dataset: noise must be >= 0, got " + std::to_string(o.noise));

  core::Rng rng(o.seed);
  const std::size_t sample = o.channels * o.height * o.width;
  std::vector<float> prototypes(o.classes * sample);
  for (auto& p : prototypes) p = rng.uniform();
  core::Rng train_rng(rng.split()), test_rng(rng.split());
  TrainTest out{make_split(o, prototypes, o.train, train_rng), make_split(o, prototypes, o.test, test_rng)};
  const std::string source = synthetic_origin(o) + "; train " + format_count(o.train) + ", test " +
                             format_count(o.test) + " samples";
  out.train.source = out.test.source = source;
  return out;
}

}  // namespace bnlab::data
