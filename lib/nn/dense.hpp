// Fully connected layer y = x·Wᵀ + b, weights stored [out, in] as in PyTorch.
#pragma once

#include "nn/init.hpp"
#include "nn/layer.hpp"

namespace bnlab::nn {

class Dense : public Layer {
 public:
  Dense(std::size_t in_features, std::size_t out_features, bool use_bias = true);

  std::string type() const override { return "dense"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  // PyTorch's default: U(−1/√in, 1/√in) for weight and bias; another InitSpec draws the weight by its
  // formula and zeroes the bias.
  void initialize(core::Rng& rng) override;
  void set_init(const InitSpec& spec) { init_ = spec; }
  const InitSpec& init() const { return init_; }
  std::vector<Param> params() override;
  nlohmann::json describe() const override;

  Tensor weight, bias, weight_grad, bias_grad;

 private:
  std::size_t in_features_, out_features_;
  bool has_bias_;
  InitSpec init_;
  const Tensor* input_ = nullptr;
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
