// Max pooling per input plane, with a branch-light path for the common 2×2/stride 2 window.
#include "nn/max_pool2d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace bnlab::nn {

namespace {

using Index = std::ptrdiff_t;

// PyTorch's update rule: strictly greater, or NaN (so a NaN propagates instead of being skipped).
inline bool replaces(float v, float best) {
  return v > best || std::isnan(v);
}

void pool_plane_generic(const float* in, Index H, Index W, const Window2d& win, Index OH, Index OW,
                        float* out, std::uint32_t* arg) {
  const Index kh = win.kernel.h, kw = win.kernel.w, sh = win.stride.h, sw = win.stride.w;
  const Index ph = win.padding.h, pw = win.padding.w;
  for (Index oh = 0; oh < OH; ++oh) {
    const Index h0 = std::max<Index>(oh * sh - ph, 0), h1 = std::min<Index>(oh * sh - ph + kh, H);
    for (Index ow = 0; ow < OW; ++ow) {
      const Index w0 = std::max<Index>(ow * sw - pw, 0), w1 = std::min<Index>(ow * sw - pw + kw, W);
      float best = -std::numeric_limits<float>::infinity();
      Index best_at = h0 * W + w0;
      for (Index h = h0; h < h1; ++h)
        for (Index w = w0; w < w1; ++w) {
          const float v = in[h * W + w];
          if (replaces(v, best)) {
            best = v;
            best_at = h * W + w;
          }
        }
      out[oh * OW + ow] = best;
      arg[oh * OW + ow] = static_cast<std::uint32_t>(best_at);
    }
  }
}

// 2×2 windows with stride 2 and no padding: the four candidates are read directly, in the same order as
// the generic loop, so results are identical.
void pool_plane_2x2(const float* in, Index W, Index OH, Index OW, float* out, std::uint32_t* arg) {
  for (Index oh = 0; oh < OH; ++oh) {
    const Index r0 = 2 * oh * W, r1 = r0 + W;
    for (Index ow = 0; ow < OW; ++ow) {
      const Index c = 2 * ow;
      Index at = r0 + c;
      float best = in[at];
      if (replaces(in[r0 + c + 1], best)) best = in[at = r0 + c + 1];
      if (replaces(in[r1 + c], best)) best = in[at = r1 + c];
      if (replaces(in[r1 + c + 1], best)) best = in[at = r1 + c + 1];
      out[oh * OW + ow] = best;
      arg[oh * OW + ow] = static_cast<std::uint32_t>(at);
    }
  }
}

}  // namespace

MaxPool2d::MaxPool2d(Extent2 kernel, std::optional<Extent2> stride, Extent2 padding)
    : window_{kernel, stride.value_or(kernel), padding} {
  window_.validate("maxpool2d");
  window_.validate_pool_padding("maxpool2d");
}

Shape MaxPool2d::output_shape(const Shape& in) const {
  const Extent2 out = window_.output_size("maxpool2d", in);
  if (in[2] * in[3] > std::numeric_limits<std::uint32_t>::max())
    throw ShapeError("maxpool2d: input plane " + to_string(in) + " is too large to index with 32 bits");
  return {in[0], in[1], out.h, out.w};
}

const Tensor& MaxPool2d::forward(const Tensor& x, Mode) {
  input_shape_ = shape_of(x);
  const Shape out = output_shape(input_shape_);
  ensure_shape(output_, out);
  argmax_.resize(output_.size());  // no reallocation once the batch shape is fixed

  const Index H = input_shape_[2], W = input_shape_[3], OH = out[2], OW = out[3];
  const bool two_by_two =
      window_.kernel == Extent2(2) && window_.stride == Extent2(2) && window_.padding == Extent2(0);
  const std::size_t planes = out[0] * out[1];
  for (std::size_t p = 0; p < planes; ++p) {
    const float* in = x.data() + p * H * W;
    float* y = output_.data() + p * OH * OW;
    std::uint32_t* arg = argmax_.data() + p * OH * OW;
    if (two_by_two)
      pool_plane_2x2(in, W, OH, OW, y, arg);
    else
      pool_plane_generic(in, H, W, window_, OH, OW, y, arg);
  }
  return output_;
}

const Tensor& MaxPool2d::backward(const Tensor& dy) {
  ensure_shape(input_grad_, input_shape_);
  std::fill(input_grad_.begin(), input_grad_.end(), 0.0f);
  const std::size_t plane_in = input_shape_[2] * input_shape_[3];
  const std::size_t plane_out = dy.shape()[2] * dy.shape()[3];
  const std::size_t planes = input_shape_[0] * input_shape_[1];
  const float* g = dy.data();
  for (std::size_t p = 0; p < planes; ++p) {
    float* dx = input_grad_.data() + p * plane_in;
    const std::uint32_t* arg = argmax_.data() + p * plane_out;
    const float* gp = g + p * plane_out;
    for (std::size_t i = 0; i < plane_out; ++i) dx[arg[i]] += gp[i];
  }
  return input_grad_;
}

nlohmann::json MaxPool2d::describe() const {
  nlohmann::json out = {{"type", type()}};
  out.update(window_.describe());
  return out;
}

}  // namespace bnlab::nn
