// Fused, numerically stable softmax cross-entropy over integer class labels.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace bnlab::nn {

class SoftmaxCrossEntropy {
 public:
  // logits [N, C]; labels has N entries in [0, C). Returns the mean loss over the batch (as a double,
  // accumulated in double) and keeps the softmax for backward. Throws ShapeError on mismatched sizes
  // and on a label out of range.
  double forward(const Tensor& logits, const std::vector<std::int32_t>& labels);
  // dL/dlogits for the mean loss: (softmax − onehot) / N, into a buffer owned by the loss.
  const Tensor& backward();
  // Number of rows whose arg-max equals the label, from the last forward.
  std::size_t correct() const { return correct_; }

 private:
  Tensor probs_, grad_;
  std::vector<std::int32_t> labels_;
  std::size_t correct_ = 0;
};

}  // namespace bnlab::nn
