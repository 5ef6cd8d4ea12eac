// Channel dropout for [N, C, H, W]: in training each sample's channel is kept whole with probability
// 1 − p and scaled by 1/(1 − p), or zeroed whole; in eval mode the layer is the exact identity.
#pragma once

#include <cstdint>

#include "core/rng.hpp"
#include "nn/layer.hpp"

namespace bnlab::nn {

class Dropout2d : public Layer {
 public:
  explicit Dropout2d(float p = 0.5f);

  std::string type() const override { return "dropout2d"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void initialize(core::Rng& rng) override { rng_ = core::Rng(rng.split()); }
  nlohmann::json describe() const override { return {{"type", type()}, {"p", p_}}; }

  void reseed(std::uint64_t seed) { rng_ = core::Rng(seed); }
  float p() const { return p_; }

 private:
  // out[plane] = in[plane] · scale[plane] for each of the N·C channel planes.
  void scale_planes(const float* in, float* out, std::size_t area) const;

  float p_;
  core::Rng rng_;
  bool identity_ = true;
  Tensor channel_scales_, output_, input_grad_;  // channel_scales_: [N, C]
};

}  // namespace bnlab::nn
