// Per-layer diagnostics on a fixed probe batch: activation statistics, gradient and weight norms.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "nn/loss.hpp"
#include "nn/sequential.hpp"

namespace bnlab::experiment {

// One row of layers.csv: the layer's output on the probe batch (all elements, then one fixed unit
// over the batch, as Ioffe & Szegedy 2015, Fig. 1) and the norms of its parameters.
struct LayerStats {
  std::string layer;  // "<index>.<type>"
  double act_mean = 0, act_std = 0, act_p15 = 0, act_p50 = 0, act_p85 = 0;
  std::size_t unit = 0;  // feature (N×F outputs) or channel (N×C×… outputs) whose values are tracked
  double unit_p15 = 0, unit_p50 = 0, unit_p85 = 0;
  bool has_params = false;  // false: grad_norm and weight_norm are not applicable
  double grad_norm = 0, weight_norm = 0;
};

// L2 norm over every gradient element of every parameter (the norm gradient clipping uses).
double global_grad_norm(const std::vector<nn::Param>& params);

// Copies of a model's buffers (running statistics), so a measurement in train mode can be undone and
// probing never changes the training trajectory of batch norm.
class BufferSnapshot {
 public:
  void save(nn::Sequential& model);
  void restore(nn::Sequential& model);

 private:
  std::vector<Tensor> copies_;
};

class LayerProbe {
 public:
  // Measures every layer after a forward pass of the probe batch in train mode followed by a backward
  // pass of the mean cross-entropy. The model's gradients are zeroed first and afterwards hold the probe
  // batch's gradient: zero them before the next training step. Returns the batch's loss.
  double measure(nn::Sequential& model, nn::SoftmaxCrossEntropy& loss, const Tensor& images,
                 const std::vector<std::int32_t>& labels);
  const std::vector<LayerStats>& stats() const { return stats_; }
  // Correct predictions of the probe batch in train mode, from the same forward pass.
  std::size_t correct() const { return correct_; }

 private:
  void measure_activations(const Tensor& out, LayerStats& s);
  std::vector<float> scratch_;
  std::vector<LayerStats> stats_;
  std::size_t correct_ = 0;
};

}  // namespace bnlab::experiment
