// Inverted dropout: in training each element is kept with probability 1 − p and scaled by 1/(1 − p);
// in eval mode the layer is the exact identity.
#pragma once

#include <cstdint>
#include <string>

#include "core/rng.hpp"
#include "nn/layer.hpp"

namespace bnlab::nn {

// Throws ConfigError naming the layer unless p is in [0, 1).
void validate_dropout_rate(const std::string& layer, float p);
// Writes n keep-scales: 1/(1 − p) with probability 1 − p, else 0. Each 64-bit draw decides two entries
// (keep when a 32-bit half is ≥ p·2³²), so masks are cheap and depend only on the generator's state.
void draw_dropout_scales(float* scales, std::size_t n, float p, core::Rng& rng);

class Dropout : public Layer {
 public:
  explicit Dropout(float p = 0.5f);

  std::string type() const override { return "dropout"; }
  Shape output_shape(const Shape& in) const override { return in; }
  // Train mode with p > 0 draws a fresh mask; eval mode or p = 0 copies the input unchanged.
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  // Seeds the private mask generator from the model's generator.
  void initialize(core::Rng& rng) override { rng_ = core::Rng(rng.split()); }
  nlohmann::json describe() const override { return {{"type", type()}, {"p", p_}}; }

  // Restarts the mask sequence, so tests can repeat a mask.
  void reseed(std::uint64_t seed) { rng_ = core::Rng(seed); }
  float p() const { return p_; }

 private:
  float p_;
  core::Rng rng_;
  bool identity_ = true;  // whether the last forward pass was the identity
  Tensor mask_, output_, input_grad_;
};

}  // namespace bnlab::nn
