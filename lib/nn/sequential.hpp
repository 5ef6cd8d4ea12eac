// A model as an ordered list of layers, shape-checked as it is built, with one train/eval switch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/layer.hpp"

namespace bnlab::nn {

class Sequential {
 public:
  // sample_shape excludes the batch dimension, e.g. {1, 28, 28}.
  explicit Sequential(Shape sample_shape);

  // Appends a layer after checking it accepts the current output shape; the ShapeError names the
  // layer's position and type.
  Sequential& add(std::unique_ptr<Layer> layer);
  template <class L, class... Args>
  L& emplace(Args&&... args) {
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *layer;
    add(std::move(layer));
    return ref;
  }

  const Tensor& forward(const Tensor& x);
  // Backpropagates dL/d(output); parameter gradients are ADDED (call zero_grad before each step). Returns
  // dL/d(input) unless set_input_grad_needed(false) was called, in which case its contents are unspecified.
  const Tensor& backward(const Tensor& dy);
  // Training never uses dL/d(input): false lets the first layers skip computing it. Default true.
  void set_input_grad_needed(bool needed);

  // These groups of layers run fused, with the same numbers bit for bit in fewer passes over memory:
  //  - a BatchNorm directly followed by a ReLU runs as one layer (BatchNorm::forward_relu);
  //  - a ReLU directly followed by a MaxPool2d runs as the pooling first and the ReLU on its (smaller)
  //    output, since max and max(·, 0) commute (and so do their gradients);
  //  - a BatchNorm2d, a ReLU and a MaxPool2d run as one (BatchNorm::forward_relu_pool);
  //  - a Conv2d, a ReLU and a MaxPool2d: each sample's convolution output is pooled right after its GEMM,
  //    while in cache, and never stored whole (Conv2d::forward_each); backward unpools each sample's
  //    gradient where the convolution's backward reads it (Conv2d::backward_by_sample);
  //  - a Conv2d directly followed by a ReLU (no pooling after it): each sample's output is rectified in
  //    place after its GEMM, and backward masks the gradient sample by sample (Conv2d::forward_relu);
  //  - a Conv2d, a GroupNorm or LayerNorm and a ReLU, with or without a MaxPool2d after them, run sample
  //    by sample (SampleNorm);
  //  - backward of a Conv2d followed by a BatchNorm (alone or leading such a group) takes the BatchNorm's
  //    dL/dx one sample at a time as it goes (Conv2d::backward_by_sample).
  // Only the group's last layer keeps its output. true turns fusion off so layer_output can
  // return every layer's output. Default false.
  void set_keep_layer_outputs(bool keep) { keep_layer_outputs_ = keep; }
  bool keep_layer_outputs() const { return keep_layer_outputs_; }

  void set_mode(Mode mode) { mode_ = mode; }
  Mode mode() const { return mode_; }
  void initialize(core::Rng& rng);
  void zero_grad();

  // Names are "<index>.<type>.<param>", e.g. "2.batchnorm1d.weight".
  std::vector<Param> params();
  std::vector<Buffer> buffers();
  std::size_t parameter_count();

  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_.at(i); }
  const Layer& layer(std::size_t i) const { return *layers_.at(i); }
  // "<index>.<type>", the name used for the layer in logs.
  std::string layer_name(std::size_t i) const;
  // The output of layer i from the last forward pass; throws Error for a layer of a fused group but its
  // last (see set_keep_layer_outputs).
  const Tensor& layer_output(std::size_t i) const;
  const Shape& sample_shape() const { return sample_shape_; }
  // Per-sample output shape of the whole model.
  const Shape& output_sample_shape() const { return output_sample_shape_; }
  // One entry per layer: {"name", "describe", "output"}.
  nlohmann::json describe() const;

 private:
  Shape sample_shape_, output_sample_shape_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Shape> sample_shapes_out_;
  enum class Fusion {
    None,
    BatchNormRelu,
    ReluMaxPool,
    BatchNormReluMaxPool,
    ConvReluMaxPool,
    SampleNormReluMaxPool,
    ConvRelu,
    SampleNormRelu
  };
  static std::size_t fused_span(Fusion fusion);  // how many layers the group has
  // Records layers [first, last] as one group of the last forward: output as layer last's, none for the
  // others, which are marked with fusion; returns last.
  std::size_t record_group(std::size_t first, std::size_t last, Fusion fusion, const Tensor* output);
  std::vector<const Tensor*> outputs_;  // nullptr for a fused group's layers but its last
  std::vector<Fusion> fusable_;         // how a group starting at layer i can run fused
  std::vector<Fusion> fused_;           // the group layer i ran in, in the last forward (None for the last)
  std::vector<bool> conv_feeds_batch_norm_;  // layer i is a Conv2d and layer i + 1 a BatchNorm2d
  // Layer i is a Conv2d, and layers i + 1 to i + 3 a SampleNorm (GroupNorm, LayerNorm), a ReLU and a
  // MaxPool2d.
  std::vector<bool> conv_feeds_sample_norm_pool_;
  // Layer i is a Conv2d followed by a GroupNorm or LayerNorm and a ReLU (a pooling after them or not).
  std::vector<bool> conv_feeds_sample_norm_relu_;
  bool fused_run_ = false;  // the last forward ran the fusions (keep_layer_outputs was off)
  Mode mode_ = Mode::Train;
  bool input_grad_needed_ = true;
  const Tensor* input_ = nullptr;  // the last forward's
  bool keep_layer_outputs_ = false;
};

}  // namespace bnlab::nn
