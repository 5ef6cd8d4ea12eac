// Sliding-window geometry checks with error messages that name the layer and the sizes involved.
#include "nn/window2d.hpp"

#include "core/error.hpp"

namespace bnlab::nn {

namespace {
std::string str(const Extent2& e) {
  return std::to_string(e.h) + "x" + std::to_string(e.w);
}
}  // namespace

nlohmann::json to_json_array(const Extent2& e) {
  return nlohmann::json::array({e.h, e.w});
}

void Window2d::validate(const std::string& layer) const {
  if (kernel.h == 0 || kernel.w == 0)
    throw ShapeError(layer + ": kernel must be positive, got " + str(kernel));
  if (stride.h == 0 || stride.w == 0)
    throw ShapeError(layer + ": stride must be positive, got " + str(stride));
}

void Window2d::validate_pool_padding(const std::string& layer) const {
  if (2 * padding.h > kernel.h || 2 * padding.w > kernel.w)
    throw ShapeError(layer + ": padding " + str(padding) + " must be at most half the kernel " + str(kernel));
}

Extent2 Window2d::output_size(const std::string& layer, const Shape& in) const {
  if (in.size() != 4) throw ShapeError(layer + " expects input [N, C, H, W], got " + to_string(in));
  const std::size_t padded_h = in[2] + 2 * padding.h, padded_w = in[3] + 2 * padding.w;
  if (padded_h < kernel.h || padded_w < kernel.w)
    throw ShapeError(layer + ": kernel " + str(kernel) + " is larger than the input " +
                     std::to_string(in[2]) + "x" + std::to_string(in[3]) + " with padding " + str(padding));
  return {(padded_h - kernel.h) / stride.h + 1, (padded_w - kernel.w) / stride.w + 1};
}

nlohmann::json Window2d::describe() const {
  return {{"kernel", to_json_array(kernel)},
          {"stride", to_json_array(stride)},
          {"padding", to_json_array(padding)}};
}

}  // namespace bnlab::nn
