// im2col and col2im against their definitions, on windows that take each code path (same-width copies,
// strides, asymmetric padding, kernels wider than the image).
#include "nn/im2col.hpp"

#include <vector>

#include <catch2/catch.hpp>

#include "core/rng.hpp"

using namespace bnlab;
using namespace bnlab::nn;

namespace {

ImageGeometry geometry(std::size_t c, std::size_t h, std::size_t w, Window2d win) {
  const std::size_t oh = (h + 2 * win.padding.h - win.kernel.h) / win.stride.h + 1;
  const std::size_t ow = (w + 2 * win.padding.w - win.kernel.w) / win.stride.w + 1;
  return {c, h, w, win, oh, ow};
}

// The value im2col must put at (row, column), straight from the definition in im2col.hpp.
float expected_entry(const std::vector<float>& image, const ImageGeometry& g, std::size_t row,
                     std::size_t column) {
  const long kh = static_cast<long>(g.window.kernel.h), kw = static_cast<long>(g.window.kernel.w);
  const long c = static_cast<long>(row) / (kh * kw), ki = (static_cast<long>(row) / kw) % kh,
             kj = static_cast<long>(row) % kw;
  const long oh = static_cast<long>(column / g.out_w), ow = static_cast<long>(column % g.out_w);
  const long ih = oh * static_cast<long>(g.window.stride.h) - static_cast<long>(g.window.padding.h) + ki;
  const long iw = ow * static_cast<long>(g.window.stride.w) - static_cast<long>(g.window.padding.w) + kj;
  if (ih < 0 || iw < 0 || ih >= static_cast<long>(g.height) || iw >= static_cast<long>(g.width)) return 0.0f;
  return image[(static_cast<std::size_t>(c) * g.height + static_cast<std::size_t>(ih)) * g.width +
               static_cast<std::size_t>(iw)];
}

}  // namespace

TEST_CASE("im2col/matches the definition and col2im is its adjoint", "[nn][im2col]") {
  struct Case {
    std::size_t c, h, w;
    Window2d window;
  };
  const std::vector<Case> cases = {
      {3, 8, 8, {3, 1, 1}},                 // same width: the contiguous-copy path
      {2, 5, 7, {{5, 5}, 1, {2, 2}}},       // same width with a shift of two
      {2, 6, 9, {{3, 1}, 1, {1, 0}}},       // 3×1: same width, rows shifted only
      {1, 4, 4, {{1, 3}, 1, {0, 1}}},       // 1×3: same width, columns shifted only
      {2, 7, 6, {3, 2, 1}},                 // stride 2
      {3, 6, 6, {3, 1, 0}},                 // valid padding: narrower output
      {1, 2, 2, {{3, 3}, 1, {1, 1}}},       // kernel as wide as the padded image
      {2, 9, 5, {{3, 3}, {1, 2}, {1, 1}}},  // stride only along the width
  };
  core::Rng rng(21);
  for (const auto& t : cases) {
    const ImageGeometry g = geometry(t.c, t.h, t.w, t.window);
    CAPTURE(t.c, t.h, t.w, g.out_h, g.out_w);
    std::vector<float> image(t.c * t.h * t.w), col(g.col_rows() * g.col_cols(), -7.0f);
    for (auto& v : image) v = rng.normal();
    im2col(image.data(), g, col.data());
    for (std::size_t r = 0; r < g.col_rows(); ++r)
      for (std::size_t k = 0; k < g.col_cols(); ++k) {
        CAPTURE(r, k);
        REQUIRE(col[r * g.col_cols() + k] == expected_entry(image, g, r, k));
      }

    // Adjoint: <im2col(x), y> = <x, col2im(y)> for random x, y.
    std::vector<float> y(col.size()), folded(image.size(), 0.0f);
    for (auto& v : y) v = rng.normal();
    std::vector<float> scratch = y;  // col2im may zero its padding entries
    col2im_add(scratch.data(), g, folded.data());
    double lhs = 0.0, rhs = 0.0;
    for (std::size_t i = 0; i < col.size(); ++i) lhs += double(col[i]) * y[i];
    for (std::size_t i = 0; i < image.size(); ++i) rhs += double(image[i]) * folded[i];
    CHECK(lhs == Approx(rhs).epsilon(1e-5));
  }
}
