// The layer contract every building block of a network implements (DESIGN.md §3).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace bnlab::nn {

// Set explicitly on the whole model; never inferred from the batch size.
enum class Mode { Train, Eval };

// What a parameter is, so optimizers can treat norm parameters and biases differently (weight decay).
enum class ParamKind { Weight, Bias, NormScale, NormShift };

struct Param {
  std::string name;  // e.g. "weight", "bias"; Sequential prefixes the layer's name
  Tensor* value;
  Tensor* grad;
  ParamKind kind;
};

// Non-learned state that belongs in checkpoints (running statistics, counters).
struct Buffer {
  std::string name;
  Tensor* value;
};

class Layer {
 public:
  virtual ~Layer() = default;

  // Short type name used in logs and checkpoints ("dense", "batchnorm2d", ...).
  virtual std::string type() const = 0;
  // Output shape for an input shape (batch dimension included); throws ShapeError when the input
  // cannot be accepted. Called when the model is built, so shape errors surface before training.
  virtual Shape output_shape(const Shape& in) const = 0;
  // Computes the output into a buffer the layer owns and caches what backward needs. x must stay alive
  // and unchanged until backward (Sequential passes the previous layer's output buffer).
  virtual const Tensor& forward(const Tensor& x, Mode mode) = 0;
  // Given dL/dy, ADDS into parameter gradients and returns dL/dx (a buffer the layer owns). A layer whose
  // backward does not read its own output may write dx over it (BatchNorm does): read forward's output
  // before calling backward.
  virtual const Tensor& backward(const Tensor& dy) = 0;
  // Draws initial parameters (and seeds any internal randomness, e.g. dropout masks).
  virtual void initialize(core::Rng& /*rng*/) {}
  virtual std::vector<Param> params() { return {}; }
  virtual std::vector<Buffer> buffers() { return {}; }
  // Hyperparameters as one JSON object for logs and model summaries.
  virtual nlohmann::json describe() const = 0;

  // Whether backward must compute dL/dx. Sequential clears it on the layers before (and including) the
  // first one with parameters when nobody needs the gradient of the model input; backward may then skip
  // that work (a third of a first Dense layer's backward) and return a tensor of unspecified contents.
  void set_input_grad_needed(bool needed) { input_grad_needed_ = needed; }
  bool input_grad_needed() const { return input_grad_needed_; }

 protected:
  bool input_grad_needed_ = true;
};

}  // namespace bnlab::nn
