// Sequential: build-time shape checks, forward/backward chaining, parameter and buffer naming.
#include "nn/sequential.hpp"

#include "core/error.hpp"
#include "nn/batch_norm.hpp"
#include "nn/conv2d.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "nn/sample_norm.hpp"

namespace bnlab::nn {

namespace {
Shape with_batch(std::size_t n, const Shape& sample) {
  Shape s{n};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}
}  // namespace

Sequential::Sequential(Shape sample_shape)
    : sample_shape_(sample_shape), output_sample_shape_(sample_shape) {}

Sequential& Sequential::add(std::unique_ptr<Layer> layer) {
  // A batch of 2 stands in for any batch: batch-size limits are checked at forward time.
  Shape out;
  try {
    out = layer->output_shape(with_batch(2, output_sample_shape_));
  } catch (const Error& e) {
    throw ShapeError("layer " + std::to_string(layers_.size()) + " (" + layer->type() +
                     ") cannot take input of per-sample shape " + to_string(output_sample_shape_) + ": " +
                     e.what());
  }
  output_sample_shape_ = Shape(out.begin() + 1, out.end());
  sample_shapes_out_.push_back(output_sample_shape_);
  layers_.push_back(std::move(layer));
  outputs_.push_back(nullptr);
  fused_.push_back(Fusion::None);
  fusable_.push_back(Fusion::None);
  const std::size_t last = layers_.size() - 1;
  if (last > 0) {
    const Layer *before = layers_[last - 1].get(), *added = layers_[last].get();
    if (dynamic_cast<const BatchNorm*>(before) && dynamic_cast<const ReLU*>(added))
      fusable_[last - 1] = Fusion::BatchNormRelu;
    else if (dynamic_cast<const ReLU*>(before) && dynamic_cast<const MaxPool2d*>(added))
      fusable_[last - 1] = Fusion::ReluMaxPool;
    else if (dynamic_cast<const Conv2d*>(before) && dynamic_cast<const ReLU*>(added))
      fusable_[last - 1] = Fusion::ConvRelu;  // a pooling added next makes it ConvReluMaxPool
    // A BatchNorm2d, its ReLU and the pooling all in one (the ReLU → pool pair is then part of it).
    if (last > 1 && fusable_[last - 2] == Fusion::BatchNormRelu &&
        fusable_[last - 1] == Fusion::ReluMaxPool &&
        dynamic_cast<const BatchNorm2d*>(layers_[last - 2].get())) {
      fusable_[last - 2] = Fusion::BatchNormReluMaxPool;
      // With 2×2 windows its backward sums over the windows alone; so must it when run unfused (outputs
      // kept), for the same numbers.
      const Window2d& pool = static_cast<const MaxPool2d*>(added)->window();
      if (pool.kernel == Extent2(2) && pool.stride == Extent2(2) && pool.padding == Extent2(0))
        static_cast<BatchNorm&>(*layers_[last - 2]).set_sums_by_pooling_windows(true);
    }
    // A Conv2d, its ReLU and the pooling (a plain model's convolution block).
    if (last > 1 && fusable_[last - 1] == Fusion::ReluMaxPool &&
        dynamic_cast<const Conv2d*>(layers_[last - 2].get()))
      fusable_[last - 2] = Fusion::ConvReluMaxPool;
  }
  conv_feeds_batch_norm_.push_back(false);
  if (last > 0 && dynamic_cast<const Conv2d*>(layers_[last - 1].get()) &&
      dynamic_cast<const BatchNorm2d*>(layers_[last].get()))
    conv_feeds_batch_norm_[last - 1] = true;
  conv_feeds_sample_norm_relu_.push_back(false);
  if (last > 1 && dynamic_cast<const Conv2d*>(layers_[last - 2].get()) &&
      dynamic_cast<const SampleNorm*>(layers_[last - 1].get()) &&
      dynamic_cast<const ReLU*>(layers_[last].get()))
    conv_feeds_sample_norm_relu_[last - 2] = true;
  conv_feeds_sample_norm_pool_.push_back(false);
  if (last > 2 && dynamic_cast<const Conv2d*>(layers_[last - 3].get()) &&
      dynamic_cast<const SampleNorm*>(layers_[last - 2].get()) && fusable_[last - 1] == Fusion::ReluMaxPool)
    conv_feeds_sample_norm_pool_[last - 3] = true;
  set_input_grad_needed(input_grad_needed_);
  return *this;
}

void Sequential::set_input_grad_needed(bool needed) {
  input_grad_needed_ = needed;
  // dL/dx of layer i is needed iff the input gradient is, or some layer before i has parameters.
  bool parameters_before = false;
  for (auto& l : layers_) {
    l->set_input_grad_needed(needed || parameters_before);
    if (!l->params().empty()) parameters_before = true;
  }
}

const Tensor& Sequential::forward(const Tensor& x) {
  if (x.dimension() != sample_shape_.size() + 1 ||
      !std::equal(sample_shape_.begin(), sample_shape_.end(), x.shape().begin() + 1))
    throw ShapeError("model expects input of per-sample shape " + to_string(sample_shape_) + ", got " +
                     to_string(shape_of(x)));
  const Tensor* h = &x;
  input_ = &x;
  fused_run_ = !keep_layer_outputs_;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Fusion fusion = fused_run_ ? fusable_[i] : Fusion::None;
    try {
      // Conv2d → BatchNorm2d: the BatchNorm's statistics are taken from each sample's output as the
      // convolution makes it.
      auto* conv = fused_run_ && conv_feeds_batch_norm_[i] ? static_cast<Conv2d*>(layers_[i].get()) : nullptr;
      auto* batch_norm = conv ? static_cast<BatchNorm2d*>(layers_[i + 1].get()) : nullptr;
      if (batch_norm && batch_norm->uses_batch_statistics(mode_)) {
        batch_norm->begin_sample_statistics(conv->output_shape(shape_of(*h)));
        h = &conv->forward_observed(*h, mode_, [batch_norm](std::size_t n, int, const float* y) {
          batch_norm->sample_statistics(n, y);
        });
        batch_norm->end_sample_statistics();
        record_group(i, i, Fusion::None, h);
        continue;
      }
      // With running statistics the normalization is known before the convolution runs: its ReLU and
      // pooling are done on each sample's output while in cache, and the output is not kept (an evaluation
      // pass has no backward; one that does follow makes it again, see backward).
      if (batch_norm && fusable_[i + 1] == Fusion::BatchNormReluMaxPool) {
        auto& pool = static_cast<MaxPool2d&>(*layers_[i + 3]);
        batch_norm->begin_eval_relu_pool(conv->output_shape(shape_of(*h)), pool);
        conv->forward_each(*h, mode_, [batch_norm](std::size_t n, int, const float* out) {
          batch_norm->eval_relu_pool_sample(n, out);
        });
        h = &batch_norm->end_eval_relu_pool();
        // None of the convolution, BatchNorm and ReLU outputs is kept: marked as run fused with the next.
        i = record_group(i, i + 3, Fusion::BatchNormReluMaxPool, h);
        continue;
      }
      // Conv2d → GroupNorm or LayerNorm → ReLU (→ MaxPool2d): each sample's output normalized (by its own
      // statistics), rectified (and pooled) as the convolution makes it; the convolution's output is kept
      // for backward.
      if (fused_run_ && conv_feeds_sample_norm_relu_[i]) {
        auto& conv_layer = static_cast<Conv2d&>(*layers_[i]);
        auto& norm = dynamic_cast<SampleNorm&>(*layers_[i + 1]);
        const bool pooled = conv_feeds_sample_norm_pool_[i];
        norm.begin_relu(conv_layer.output_shape(shape_of(*h)),
                        pooled ? static_cast<MaxPool2d*>(layers_[i + 3].get()) : nullptr);
        const Tensor& conv_out = conv_layer.forward_observed(
            *h, mode_,
            [&norm](std::size_t n, int worker, const float* y) { norm.relu_sample(n, worker, y); });
        h = &norm.end_relu(conv_out);
        record_group(i, i, Fusion::None, &conv_out);
        i = pooled ? record_group(i + 1, i + 3, Fusion::SampleNormReluMaxPool, h)
                   : record_group(i + 1, i + 2, Fusion::SampleNormRelu, h);
        continue;
      }
      switch (fusion) {
        case Fusion::None:
          h = &layers_[i]->forward(*h, mode_);
          break;
        case Fusion::BatchNormRelu:
          h = &static_cast<BatchNorm&>(*layers_[i]).forward_relu(*h, mode_);
          break;
        case Fusion::ReluMaxPool:
          // max(·, 0) after the pooling: the same values, on a quarter of them for 2×2 windows.
          h = &layers_[i]->forward(layers_[i + 1]->forward(*h, mode_), mode_);
          break;
        case Fusion::BatchNormReluMaxPool:
          h = &static_cast<BatchNorm&>(*layers_[i])
                   .forward_relu_pool(*h, mode_, static_cast<MaxPool2d&>(*layers_[i + 2]));
          break;
        case Fusion::ConvReluMaxPool: {
          auto& conv_layer = static_cast<Conv2d&>(*layers_[i]);
          auto& pool = static_cast<MaxPool2d&>(*layers_[i + 2]);
          const Shape conv_out = conv_layer.output_shape(shape_of(*h));
          const std::size_t channels = conv_out[1], plane = conv_out[2] * conv_out[3];
          pool.begin_forward(conv_out, /*then_relu=*/true);
          conv_layer.forward_each(*h, mode_, [&pool, channels, plane](std::size_t n, int, const float* y) {
            // The ReLU on the pooled values, as for a ReLU → MaxPool2d pair.
            for (std::size_t c = 0; c < channels; ++c) pool.forward_plane(n * channels + c, y + c * plane);
          });
          h = &pool.output();
          break;
        }
        case Fusion::ConvRelu:
          h = &static_cast<Conv2d&>(*layers_[i]).forward_relu(*h, mode_);
          break;
        case Fusion::SampleNormRelu:  // run from its convolution, above; never a layer's fusable_
        case Fusion::SampleNormReluMaxPool:
          throw Error("Sequential::forward: layer " + layer_name(i) +
                      " is fused with the convolution before it");
      }
    } catch (const ShapeError& e) {
      throw ShapeError("layer " + layer_name(i) + ": " + e.what());
    }
    i = record_group(i, i + fused_span(fusion) - 1, fusion, h);
  }
  return *h;
}

std::size_t Sequential::record_group(std::size_t first, std::size_t last, Fusion fusion,
                                     const Tensor* output) {
  // The group's output stands for its last layer's; the layers before it keep none, and are marked with
  // the group's fusion (the last with None) so backward can find where the group starts.
  for (std::size_t k = first; k < last; ++k) {
    outputs_[k] = nullptr;
    fused_[k] = fusion;
  }
  outputs_[last] = output;
  fused_[last] = Fusion::None;
  return last;
}

const Tensor& Sequential::backward(const Tensor& dy) {
  // The fused groups read dy plane by plane by the forward's shapes, so a wrong shape must stop here.
  if (outputs_.empty() || !outputs_.back()) throw Error("Sequential::backward before any forward pass");
  if (shape_of(dy) != shape_of(*outputs_.back()))
    throw ShapeError("model backward got dL/d(output) " + to_string(shape_of(dy)) +
                     " but the last forward's output is " + to_string(shape_of(*outputs_.back())));
  const Tensor* g = &dy;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const Fusion fusion = i > 0 ? fused_[i - 1] : Fusion::None;
    i -= fused_span(fusion) - 1;  // the group's first layer
    if (fused_run_ && i > 0 && conv_feeds_batch_norm_[i - 1]) {
      auto* batch_norm = static_cast<BatchNorm*>(layers_[i].get());
      auto* conv = static_cast<Conv2d*>(layers_[i - 1].get());
      // An evaluation forward did not keep the convolution's output: made again from its input (the
      // output of the group before it, or the model's), the same numbers.
      if (!batch_norm->has_input()) {
        const Tensor* conv_input = i >= 2 ? outputs_[i - 2] : input_;
        if (!conv_input)
          throw Error("Sequential::backward: the input of layer " + layer_name(i - 1) + " was not kept");
        batch_norm->restore_input(conv->forward(*conv_input, mode_));
      }
      // Conv2d → BatchNorm (and what runs fused with it): the BatchNorm's sums first, then its dx made one
      // sample at a time where the convolution's backward reads it, instead of a whole tensor in memory.
      switch (fusion) {
        case Fusion::BatchNormRelu:
          batch_norm->backward_sums(*g, BatchNorm::Then::Relu);
          break;
        case Fusion::BatchNormReluMaxPool:
          batch_norm->backward_sums(*g, BatchNorm::Then::ReluMaxPool,
                                    &static_cast<MaxPool2d&>(*layers_[i + 2]));
          break;
        default:
          batch_norm->backward_sums(*g, BatchNorm::Then::Nothing);
          break;
      }
      g = &conv->backward_by_sample(
          [batch_norm](std::size_t n, int worker, float* dy) { batch_norm->backward_sample(n, worker, dy); });
      --i;
      continue;
    }
    switch (fusion) {
      case Fusion::None:
        g = &layers_[i]->backward(*g);
        break;
      case Fusion::BatchNormRelu:
        g = &static_cast<BatchNorm&>(*layers_[i]).backward_relu(*g);
        break;
      case Fusion::ReluMaxPool:
        g = &layers_[i + 1]->backward(layers_[i]->backward(*g));
        break;
      case Fusion::BatchNormReluMaxPool:
        g = &static_cast<BatchNorm&>(*layers_[i])
                 .backward_relu_pool(*g, static_cast<MaxPool2d&>(*layers_[i + 2]));
        break;
      case Fusion::ConvReluMaxPool: {
        const Tensor& pooled_grad = *g;
        const auto& pool = static_cast<const MaxPool2d&>(*layers_[i + 2]);
        const std::size_t channels = pooled_grad.shape()[1];
        const std::size_t plane = pool.input_plane_size();
        g = &static_cast<Conv2d&>(*layers_[i])
                 .backward_by_sample([&pool, &pooled_grad, channels, plane](std::size_t n, int, float* dy) {
                   for (std::size_t c = 0; c < channels; ++c)
                     pool.backward_plane(n * channels + c, pooled_grad, dy + c * plane);
                 });
        break;
      }
      case Fusion::ConvRelu:
        g = &static_cast<Conv2d&>(*layers_[i]).backward_relu(*g);
        break;
      case Fusion::SampleNormRelu:
      case Fusion::SampleNormReluMaxPool: {
        // The norm's dx made sample by sample where the convolution before it reads it; that
        // convolution's backward is done too.
        auto& norm = dynamic_cast<SampleNorm&>(*layers_[i]);
        norm.begin_backward_relu(*g);
        g = &static_cast<Conv2d&>(*layers_[i - 1])
                 .backward_by_sample([&norm](std::size_t n, int worker, float* dx) {
                   norm.backward_relu_sample(n, worker, dx);
                 });
        norm.end_backward_relu();
        --i;
        break;
      }
    }
  }
  return *g;
}

std::size_t Sequential::fused_span(Fusion fusion) {
  switch (fusion) {
    case Fusion::None:
      return 1;
    case Fusion::BatchNormRelu:
    case Fusion::ReluMaxPool:
    case Fusion::ConvRelu:
    case Fusion::SampleNormRelu:
      return 2;
    case Fusion::BatchNormReluMaxPool:
    case Fusion::ConvReluMaxPool:
    case Fusion::SampleNormReluMaxPool:
      return 3;
  }
  return 1;
}

const Tensor& Sequential::layer_output(std::size_t i) const {
  if (i >= outputs_.size() || (!outputs_[i] && fused_[i] == Fusion::None))
    throw Error("layer_output(" + std::to_string(i) + "): no forward pass has produced it");
  if (!outputs_[i])
    throw Error("the output of layer " + layer_name(i) + " was not kept: it ran fused with layer " +
                layer_name(i + 1) +
                "; call set_keep_layer_outputs(true) before forward to keep every layer's "
                "output");
  return *outputs_[i];
}

void Sequential::initialize(core::Rng& rng) {
  for (auto& l : layers_) l->initialize(rng);
}

void Sequential::zero_grad() {
  for (auto& p : params()) std::fill(p.grad->begin(), p.grad->end(), 0.0f);
}

std::vector<Param> Sequential::params() {
  std::vector<Param> all;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    for (auto p : layers_[i]->params()) {
      p.name = layer_name(i) + "." + p.name;
      all.push_back(p);
    }
  return all;
}

std::vector<Buffer> Sequential::buffers() {
  std::vector<Buffer> all;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    for (auto b : layers_[i]->buffers()) {
      b.name = layer_name(i) + "." + b.name;
      all.push_back(b);
    }
  return all;
}

std::size_t Sequential::parameter_count() {
  std::size_t n = 0;
  for (auto& p : params()) n += p.value->size();
  return n;
}

std::string Sequential::layer_name(std::size_t i) const {
  return std::to_string(i) + "." + layers_.at(i)->type();
}

nlohmann::json Sequential::describe() const {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < layers_.size(); ++i)
    out.push_back(
        {{"name", layer_name(i)}, {"layer", layers_[i]->describe()}, {"output", sample_shapes_out_[i]}});
  return out;
}

}  // namespace bnlab::nn
