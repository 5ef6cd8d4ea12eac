// Unfolds one image into the column matrix a convolution multiplies by (im2col), and folds it back (col2im).
#pragma once

#include <cstddef>

#include "nn/window2d.hpp"

namespace bnlab::nn {

// Geometry of one image [C, H, W] under a window, with the output size it produces.
struct ImageGeometry {
  std::size_t channels, height, width;
  Window2d window;
  std::size_t out_h, out_w;

  // Rows of the column matrix: C·kh·kw, ordered (c, ki, kj) to match a weight [O, C, kh, kw].
  std::size_t col_rows() const { return channels * window.kernel.h * window.kernel.w; }
  // Columns: one per output position, OH·OW.
  std::size_t col_cols() const { return out_h * out_w; }
};

// col[(c·kh + ki)·kw + kj][oh·OW + ow] = image[c][oh·sh − ph + ki][ow·sw − pw + kj], 0 in the padding.
void im2col(const float* image, const ImageGeometry& g, float* col);
// The adjoint of im2col: image[…] += col[…] for every position im2col read (padding entries dropped).
// The caller zeroes image first when it wants a plain fold. col is scratch: its padding entries may be
// set to zero (for stride-1 same-width windows, so each kernel offset is added as one contiguous block).
void col2im_add(float* col, const ImageGeometry& g, float* image);

}  // namespace bnlab::nn
