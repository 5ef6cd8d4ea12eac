// im2col and col2im over contiguous rows: the in-image span of each output row is computed once, so the
// inner loops run without bounds tests (a plain copy when the stride is 1).
#include "nn/im2col.hpp"

#include <algorithm>

namespace bnlab::nn {

namespace {

using Index = std::ptrdiff_t;

// Output positions [lo, hi) along one axis whose input index o·stride + offset lies in [0, size).
struct Span {
  Index lo, hi;
};

Index ceil_div(Index a, Index b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

Span valid_span(Index offset, Index stride, Index size, Index out) {
  const Index lo = offset < 0 ? ceil_div(-offset, stride) : 0;
  const Index hi = size - offset > 0 ? ceil_div(size - offset, stride) : 0;
  return {std::min(lo, out), std::clamp(hi, std::min(lo, out), out)};
}

// Zeroes columns [first, last) of a block of `rows` rows `width` wide. Column by column on purpose: the
// usual range is one column, and a fill per row was a memset call per row (~3% of a cifar-cnn step).
void zero_columns(float* block, Index rows, Index width, Index first, Index last) {
  for (Index j = first; j < last; ++j)
    for (Index r = 0; r < rows; ++r) block[r * width + j] = 0.0f;
}

// Stride 1 with an output as wide as the input ("same" padding, the usual 3×3/padding 1): a kernel
// offset's column-matrix row is the image shifted by a constant, so all its in-image rows are one
// contiguous copy; the few entries whose column falls outside the image (they picked up a pixel of the
// neighbouring row) are zeroed afterwards. One long copy instead of a short one per output row.
void im2col_same_width(const float* image, const ImageGeometry& g, float* col) {
  const Index H = g.height, W = g.width, OH = g.out_h, OW = g.out_w;
  const Index kh = g.window.kernel.h, kw = g.window.kernel.w;
  const Index ph = g.window.padding.h, pw = g.window.padding.w;
  for (Index c = 0; c < static_cast<Index>(g.channels); ++c) {
    const float* plane = image + c * H * W;
    for (Index ki = 0; ki < kh; ++ki) {
      const Span rows = valid_span(ki - ph, 1, H, OH);
      for (Index kj = 0; kj < kw; ++kj) {
        const Span cols = valid_span(kj - pw, 1, W, OW);
        float* out = col + ((c * kh + ki) * kw + kj) * OH * OW;
        std::fill(out, out + rows.lo * OW, 0.0f);
        std::fill(out + rows.hi * OW, out + OH * OW, 0.0f);
        if (rows.lo >= rows.hi) continue;
        const Index shift = kj - pw, length = (rows.hi - rows.lo) * OW;
        float* block = out + rows.lo * OW;
        const float* source = plane + (rows.lo + ki - ph) * W;  // in-image row of block's first row
        // block[i] = source[i + shift], except where that would read before or after the image.
        const Index begin = shift < 0 ? -shift : 0, end = shift > 0 ? length - shift : length;
        if (begin < end) std::copy(source + begin + shift, source + end + shift, block + begin);
        zero_columns(block, rows.hi - rows.lo, OW, 0, cols.lo);
        zero_columns(block, rows.hi - rows.lo, OW, cols.hi, OW);
      }
    }
  }
}

// The adjoint of im2col_same_width: zero the entries whose column falls outside the image (they would
// land on a pixel of the neighbouring row), then add each kernel offset's in-image rows as one block.
// Every pixel receives the same terms in the same order as the row-by-row loop.
void col2im_same_width(float* col, const ImageGeometry& g, float* image) {
  const Index H = g.height, W = g.width, OH = g.out_h, OW = g.out_w;
  const Index kh = g.window.kernel.h, kw = g.window.kernel.w;
  const Index ph = g.window.padding.h, pw = g.window.padding.w;
  for (Index c = 0; c < static_cast<Index>(g.channels); ++c) {
    float* plane = image + c * H * W;
    for (Index ki = 0; ki < kh; ++ki) {
      const Span rows = valid_span(ki - ph, 1, H, OH);
      if (rows.lo >= rows.hi) continue;
      for (Index kj = 0; kj < kw; ++kj) {
        const Span cols = valid_span(kj - pw, 1, W, OW);
        float* block = col + ((c * kh + ki) * kw + kj) * OH * OW + rows.lo * OW;
        zero_columns(block, rows.hi - rows.lo, OW, 0, cols.lo);
        zero_columns(block, rows.hi - rows.lo, OW, cols.hi, OW);
        const Index shift = kj - pw, length = (rows.hi - rows.lo) * OW;
        float* target = plane + (rows.lo + ki - ph) * W;
        const Index begin = shift < 0 ? -shift : 0, end = shift > 0 ? length - shift : length;
        for (Index i = begin; i < end; ++i) target[i + shift] += block[i];
      }
    }
  }
}

}  // namespace

void im2col(const float* image, const ImageGeometry& g, float* col) {
  const Index H = g.height, W = g.width, OH = g.out_h, OW = g.out_w;
  const Index kh = g.window.kernel.h, kw = g.window.kernel.w;
  const Index sh = g.window.stride.h, sw = g.window.stride.w;
  const Index ph = g.window.padding.h, pw = g.window.padding.w;
  if (sh == 1 && sw == 1 && OW == W) {
    im2col_same_width(image, g, col);
    return;
  }
  for (Index c = 0; c < static_cast<Index>(g.channels); ++c) {
    const float* plane = image + c * H * W;
    for (Index ki = 0; ki < kh; ++ki) {
      const Span rows = valid_span(ki - ph, sh, H, OH);
      for (Index kj = 0; kj < kw; ++kj) {
        const Span cols = valid_span(kj - pw, sw, W, OW);
        float* out = col + ((c * kh + ki) * kw + kj) * OH * OW;
        std::fill(out, out + rows.lo * OW, 0.0f);
        for (Index oh = rows.lo; oh < rows.hi; ++oh) {
          float* dst = out + oh * OW;
          // Input index of output column ow is base + ow·sw (never read outside [cols.lo, cols.hi)).
          const Index base = (oh * sh + ki - ph) * W + (kj - pw);
          std::fill(dst, dst + cols.lo, 0.0f);
          if (sw == 1 && cols.lo < cols.hi) {
            std::copy(plane + base + cols.lo, plane + base + cols.hi, dst + cols.lo);
          } else if (sw != 1) {
            for (Index ow = cols.lo; ow < cols.hi; ++ow) dst[ow] = plane[base + ow * sw];
          }
          std::fill(dst + cols.hi, dst + OW, 0.0f);
        }
        std::fill(out + rows.hi * OW, out + OH * OW, 0.0f);
      }
    }
  }
}

void col2im_add(float* col, const ImageGeometry& g, float* image) {
  const Index H = g.height, W = g.width, OH = g.out_h, OW = g.out_w;
  const Index kh = g.window.kernel.h, kw = g.window.kernel.w;
  const Index sh = g.window.stride.h, sw = g.window.stride.w;
  const Index ph = g.window.padding.h, pw = g.window.padding.w;
  if (sh == 1 && sw == 1 && OW == W) {
    col2im_same_width(col, g, image);
    return;
  }
  for (Index c = 0; c < static_cast<Index>(g.channels); ++c) {
    float* plane = image + c * H * W;
    for (Index ki = 0; ki < kh; ++ki) {
      const Span rows = valid_span(ki - ph, sh, H, OH);
      for (Index kj = 0; kj < kw; ++kj) {
        const Span cols = valid_span(kj - pw, sw, W, OW);
        const float* in = col + ((c * kh + ki) * kw + kj) * OH * OW;
        for (Index oh = rows.lo; oh < rows.hi; ++oh) {
          const float* src = in + oh * OW;
          const Index base = (oh * sh + ki - ph) * W + (kj - pw);
          if (sw == 1 && cols.lo < cols.hi) {
            float* dst = plane + base + cols.lo;
            for (Index ow = cols.lo; ow < cols.hi; ++ow) *dst++ += src[ow];
          } else if (sw != 1) {
            for (Index ow = cols.lo; ow < cols.hi; ++ow) plane[base + ow * sw] += src[ow];
          }
        }
      }
    }
  }
}

}  // namespace bnlab::nn
