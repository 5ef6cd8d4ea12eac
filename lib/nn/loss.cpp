// Softmax cross-entropy: log-sum-exp with max subtraction in forward, (softmax − onehot)/N in backward.
#include "nn/loss.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace bnlab::nn {

double SoftmaxCrossEntropy::forward(const Tensor& logits, const std::vector<std::int32_t>& labels) {
  if (logits.dimension() != 2 || logits.shape()[0] == 0 || logits.shape()[1] == 0)
    throw ShapeError("softmax cross-entropy expects logits [N, C] with N, C > 0, got " +
                     to_string(shape_of(logits)));
  const std::size_t n = logits.shape()[0], c = logits.shape()[1];
  if (labels.size() != n)
    throw ShapeError("softmax cross-entropy got " + std::to_string(labels.size()) + " labels for " +
                     std::to_string(n) + " rows of logits " + to_string(shape_of(logits)));
  for (std::size_t i = 0; i < n; ++i)
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= c)
      throw ShapeError("softmax cross-entropy: label " + std::to_string(labels[i]) + " of sample " +
                       std::to_string(i) + " is outside [0, " + std::to_string(c) + ")");

  ensure_shape(probs_, {n, c});
  labels_.assign(labels.begin(), labels.end());  // reuses capacity: no allocation at a steady batch size
  const float* z = logits.data();
  float* p = probs_.data();
  double total = 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = z + i * c;
    float* prow = p + i * c;
    // Subtracting the row maximum keeps every exp() in (0, 1]: no overflow for any finite logits.
    std::size_t argmax = 0;
    for (std::size_t j = 1; j < c; ++j)
      if (row[j] > row[argmax]) argmax = j;
    const float max = row[argmax];
    double sum = 0.0;
    for (std::size_t j = 0; j < c; ++j) {
      prow[j] = std::exp(row[j] - max);
      sum += prow[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (std::size_t j = 0; j < c; ++j) prow[j] *= inv;
    const std::size_t label = static_cast<std::size_t>(labels[i]);
    // −log softmax_label = log Σ exp(z − max) − (z_label − max)
    total += std::log(sum) - static_cast<double>(row[label] - max);
    if (argmax == label) ++correct;
  }
  correct_ = correct;
  return total / static_cast<double>(n);
}

const Tensor& SoftmaxCrossEntropy::backward() {
  if (labels_.empty()) throw Error("softmax cross-entropy: backward called before forward");
  const std::size_t n = probs_.shape()[0], c = probs_.shape()[1];
  ensure_shape(grad_, {n, c});
  const float inv_n = 1.0f / static_cast<float>(n);
  const float* p = probs_.data();
  float* g = grad_.data();
  for (std::size_t i = 0; i < n * c; ++i) g[i] = p[i] * inv_n;
  // (p − 1)/N rather than p/N − 1/N: one rounding, exact 0 when p rounds to 1.
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = i * c + static_cast<std::size_t>(labels_[i]);
    g[k] = (p[k] - 1.0f) * inv_n;
  }
  return grad_;
}

}  // namespace bnlab::nn
