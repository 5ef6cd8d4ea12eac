// Average pooling per input plane. Without ceil mode every window lies inside the padded input, so the
// divisor with count_include_pad is always kh·kw.
#include "nn/avg_pool2d.hpp"

#include <algorithm>

namespace bnlab::nn {

namespace {
using Index = std::ptrdiff_t;
}  // namespace

AvgPool2d::AvgPool2d(Extent2 kernel, std::optional<Extent2> stride, Extent2 padding)
    : window_{kernel, stride.value_or(kernel), padding} {
  window_.validate("avgpool2d");
  window_.validate_pool_padding("avgpool2d");
}

Shape AvgPool2d::output_shape(const Shape& in) const {
  const Extent2 out = window_.output_size("avgpool2d", in);
  return {in[0], in[1], out.h, out.w};
}

const Tensor& AvgPool2d::forward(const Tensor& x, Mode) {
  input_shape_ = shape_of(x);
  const Shape out = output_shape(input_shape_);
  ensure_shape(output_, out);
  const Index H = input_shape_[2], W = input_shape_[3], OH = out[2], OW = out[3];
  const Index kh = window_.kernel.h, kw = window_.kernel.w, sh = window_.stride.h, sw = window_.stride.w;
  const Index ph = window_.padding.h, pw = window_.padding.w;
  const float inv_area = 1.0f / static_cast<float>(kh * kw);
  const std::size_t planes = out[0] * out[1];
  for (std::size_t p = 0; p < planes; ++p) {
    const float* in = x.data() + p * H * W;
    float* y = output_.data() + p * OH * OW;
    for (Index oh = 0; oh < OH; ++oh) {
      const Index h0 = std::max<Index>(oh * sh - ph, 0), h1 = std::min<Index>(oh * sh - ph + kh, H);
      for (Index ow = 0; ow < OW; ++ow) {
        const Index w0 = std::max<Index>(ow * sw - pw, 0), w1 = std::min<Index>(ow * sw - pw + kw, W);
        float sum = 0.0f;
        for (Index h = h0; h < h1; ++h)
          for (Index w = w0; w < w1; ++w) sum += in[h * W + w];
        y[oh * OW + ow] = sum * inv_area;
      }
    }
  }
  return output_;
}

const Tensor& AvgPool2d::backward(const Tensor& dy) {
  ensure_shape(input_grad_, input_shape_);
  std::fill(input_grad_.begin(), input_grad_.end(), 0.0f);
  const Index H = input_shape_[2], W = input_shape_[3], OH = dy.shape()[2], OW = dy.shape()[3];
  const Index kh = window_.kernel.h, kw = window_.kernel.w, sh = window_.stride.h, sw = window_.stride.w;
  const Index ph = window_.padding.h, pw = window_.padding.w;
  const float inv_area = 1.0f / static_cast<float>(kh * kw);
  const std::size_t planes = input_shape_[0] * input_shape_[1];
  for (std::size_t p = 0; p < planes; ++p) {
    float* dx = input_grad_.data() + p * H * W;
    const float* g = dy.data() + p * OH * OW;
    for (Index oh = 0; oh < OH; ++oh) {
      const Index h0 = std::max<Index>(oh * sh - ph, 0), h1 = std::min<Index>(oh * sh - ph + kh, H);
      for (Index ow = 0; ow < OW; ++ow) {
        const Index w0 = std::max<Index>(ow * sw - pw, 0), w1 = std::min<Index>(ow * sw - pw + kw, W);
        const float share = g[oh * OW + ow] * inv_area;
        for (Index h = h0; h < h1; ++h)
          for (Index w = w0; w < w1; ++w) dx[h * W + w] += share;
      }
    }
  }
  return input_grad_;
}

nlohmann::json AvgPool2d::describe() const {
  nlohmann::json out = {{"type", type()}};
  out.update(window_.describe());
  out["count_include_pad"] = true;
  return out;
}

}  // namespace bnlab::nn
