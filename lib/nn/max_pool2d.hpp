// 2-D max pooling over [N, C, H, W]; padding counts as −inf and backward routes to the argmax.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "nn/layer.hpp"
#include "nn/window2d.hpp"

namespace bnlab::nn {

class MaxPool2d : public Layer {
 public:
  // stride defaults to the kernel, as in PyTorch; padding is at most half the kernel.
  explicit MaxPool2d(Extent2 kernel, std::optional<Extent2> stride = std::nullopt, Extent2 padding = 0);

  std::string type() const override { return "maxpool2d"; }
  Shape output_shape(const Shape& in) const override;
  // Records, per output, the index of the maximum within its input plane (the first one on ties, and a NaN
  // wins over numbers, as PyTorch does).
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override;

  // The same work one input plane (index n·C + c) at a time, for a layer that computes this layer's input
  // plane by plane and never stores it whole (BatchNorm fused with a ReLU and the pooling): begin_forward
  // with the input's shape, then forward_plane for every plane (from any thread), then output(). After
  // it, backward_plane writes dL/dx of plane p (H·W values) from dL/dy.
  // then_relu makes every plane's output max(·, 0) (a NaN stays NaN), as a ReLU after this layer would: max
  // and max(·, 0) commute, so a ReLU → MaxPool2d pair is this too. backward_plane (and backward) then take
  // dy through that ReLU (zero where the output is not positive) before routing it: the windows it blocked
  // are marked in the argmax, so the backward never reads the output back.
  // keep_window_inputs (2×2 windows only, else ignored): forward_plane also keeps each window's input at
  // its maximum (before forward_plane's affine map, if any), for window_inputs.
  void begin_forward(const Shape& in, bool then_relu = false, bool keep_window_inputs = false);
  void forward_plane(std::size_t p, const float* plane);
  // forward_plane of max((x − center)·scale + shift, 0), the affine map taken value by value as the plane is
  // read and the ReLU (then_relu's) after the max (a BatchNorm2d and its ReLU fused with this layer): no
  // plane of them is ever written. Needs a begin_forward with then_relu.
  struct AffineRelu {
    float center, scale, shift;
  };
  void forward_plane(std::size_t p, const float* plane, const AffineRelu& before);
  const Tensor& output() const { return output_; }
  std::size_t input_plane_size() const { return input_shape_[2] * input_shape_[3]; }
  void backward_plane(std::size_t p, const Tensor& dy, float* dx) const;
  // backward_plane, then dx = scale·dx + slope·(x − center) + offset position by position, x being plane p's
  // input: the gradient of a BatchNorm2d fused before this layer and its ReLU (then_relu's). For 2×2
  // windows with AVX-512 each unpooled vector is mapped as it is made, so the unpooled plane is never written
  // and read back; else the plane is mapped after backward_plane. The same bits either way.
  struct GradAffine {
    float center, scale, slope, offset;
    float operator()(float g, float x) const;  // scale·g + slope·(x − center) + offset
  };
  void backward_plane(std::size_t p, const Tensor& dy, const float* x, const GradAffine& after,
                      float* dx) const;
  // What backward_plane routes, window by window instead of position by position: window q of plane p
  // passes dy, or +0 where then_relu's ReLU blocked it, to its maximum's position, whose input
  // window_inputs(p)[q] holds when the last begin_forward kept them (keeps_window_inputs). A layer summing
  // over the unpooled plane (BatchNorm's Σ dy and Σ dy·x) can sum over the windows instead, a quarter of the
  // values for 2×2 windows, the rest of the plane being +0. window_gradients writes those of planes
  // [first_plane, first_plane + planes) to g, plane after plane (windows_per_plane values each).
  void window_gradients(std::size_t first_plane, std::size_t planes, const Tensor& dy, float* g) const;
  bool keeps_window_inputs() const { return keeps_window_inputs_; }
  const float* window_inputs(std::size_t p) const;
  std::size_t windows_per_plane() const { return output_.shape()[2] * output_.shape()[3]; }

  const Window2d& window() const { return window_; }

 private:
  bool two_by_two() const;  // the common window with its own vectorized paths
  // Pools plane p, each input value taken through value (max_pool2d.cpp's AsIs or ThroughAffine), and
  // then_relu_'s ReLU and marks.
  template <class Transform>
  void pool_plane(std::size_t p, const float* plane, Transform value);

  Window2d window_;
  Shape input_shape_;
  bool then_relu_ = false;  // the last begin_forward's
  // Per output, where its maximum was, with a mark where then_relu's ReLU passed nothing (the output is not
  // positive) that matches no position, so the unpooling routes no gradient there: for 2×2 windows a byte
  // naming one of the four positions, otherwise the index in the input plane (max_pool2d.cpp's
  // kCodeReluBlocked and kReluBlocked are the marks).
  std::vector<std::uint8_t> window_codes_;
  std::vector<std::uint32_t> argmax_;
  bool keeps_window_inputs_ = false;  // the last begin_forward's
  std::vector<float> window_inputs_;  // per output, its input at the maximum, when kept
  Tensor output_, input_grad_;
};

// Written as BatchNorm wrote it inline, so that GCC contracts it the same way (where the target has fused
// multiply-adds: slope·(x − center) rounded, scale·g added to it in one rounding, then offset); the
// AVX-512 unpooling kernel spells that out, and the tests hold the two to the same bits.
inline float MaxPool2d::GradAffine::operator()(float g, float x) const {
  return scale * g + slope * (x - center) + offset;
}

}  // namespace bnlab::nn
