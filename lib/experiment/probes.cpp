// Probe measurements: one forward/backward pass of the probe batch, then statistics per layer.
#include "experiment/probes.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "experiment/percentiles.hpp"

namespace bnlab::experiment {

namespace {

double sum_of_squares(const Tensor& t) {
  const float* p = t.data();
  const std::size_t n = t.size();
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * p[i];
  return s;
}

}  // namespace

double global_grad_norm(const std::vector<nn::Param>& params) {
  double s = 0.0;
  for (const auto& p : params) s += sum_of_squares(*p.grad);
  return std::sqrt(s);
}

void BufferSnapshot::save(nn::Sequential& model) {
  auto buffers = model.buffers();
  copies_.resize(buffers.size());
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    ensure_shape(copies_[i], shape_of(*buffers[i].value));
    std::copy(buffers[i].value->data(), buffers[i].value->data() + buffers[i].value->size(),
              copies_[i].data());
  }
}

void BufferSnapshot::restore(nn::Sequential& model) {
  auto buffers = model.buffers();
  for (std::size_t i = 0; i < buffers.size() && i < copies_.size(); ++i)
    std::copy(copies_[i].data(), copies_[i].data() + copies_[i].size(), buffers[i].value->data());
}

double LayerProbe::measure(nn::Sequential& model, nn::SoftmaxCrossEntropy& loss, const Tensor& images,
                           const std::vector<std::int32_t>& labels) {
  const nn::Mode previous = model.mode();
  const bool kept = model.keep_layer_outputs();
  model.set_mode(nn::Mode::Train);
  model.set_keep_layer_outputs(true);  // every layer's output is measured, a fused BatchNorm's too
  model.zero_grad();
  const Tensor& logits = model.forward(images);
  const double value = loss.forward(logits, labels);
  correct_ = loss.correct();

  stats_.resize(model.size());
  // Activations first: they are the forward outputs, read before backward reuses any buffer.
  for (std::size_t i = 0; i < model.size(); ++i) {
    stats_[i].layer = model.layer_name(i);
    measure_activations(model.layer_output(i), stats_[i]);
  }
  model.backward(loss.backward());
  for (std::size_t i = 0; i < model.size(); ++i) {
    auto params = model.layer(i).params();
    LayerStats& s = stats_[i];
    s.has_params = !params.empty();
    double g = 0.0, w = 0.0;
    for (const auto& p : params) {
      g += sum_of_squares(*p.grad);
      w += sum_of_squares(*p.value);
    }
    s.grad_norm = std::sqrt(g);
    s.weight_norm = std::sqrt(w);
  }
  model.set_mode(previous);
  model.set_keep_layer_outputs(kept);
  return value;
}

void LayerProbe::measure_activations(const Tensor& out, LayerStats& s) {
  const std::size_t n = out.size();
  const float* x = out.data();
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += x[i];
  const double mean = n ? sum / static_cast<double>(n) : std::nan("");
  double var = 0.0;
  for (std::size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  s.act_mean = mean;
  s.act_std = n ? std::sqrt(var / static_cast<double>(n)) : std::nan("");

  constexpr std::array<double, 3> kQuantiles{0.15, 0.50, 0.85};
  const auto all = percentiles(x, n, kQuantiles);
  s.act_p15 = all[0];
  s.act_p50 = all[1];
  s.act_p85 = all[2];

  // Unit 0: feature 0 of an N×F output, or channel 0 (all its positions) of an N×C×… output.
  s.unit = 0;
  const std::size_t batch = out.dimension() > 0 ? out.shape()[0] : 0;
  const std::size_t per_sample = batch ? n / batch : 0;
  const std::size_t channels = out.dimension() > 1 ? out.shape()[1] : 1;
  const std::size_t positions = channels ? per_sample / channels : 0;
  std::size_t count = 0;
  if (scratch_.size() < batch * positions) scratch_.resize(batch * positions);
  for (std::size_t b = 0; b < batch; ++b) {
    const float* unit = x + b * per_sample;
    for (std::size_t j = 0; j < positions; ++j) scratch_[count++] = unit[j];
  }
  const auto of_unit = percentiles(scratch_.data(), count, kQuantiles);
  s.unit_p15 = of_unit[0];
  s.unit_p50 = of_unit[1];
  s.unit_p85 = of_unit[2];
}

}  // namespace bnlab::experiment
