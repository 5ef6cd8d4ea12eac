// Row-wise crop and flip: each output row is padding, a contiguous (or reversed) source span, padding.
#include "data/augment.hpp"

#include <algorithm>

namespace bnlab::data {

void write_plane(const std::uint8_t* src, std::size_t height, std::size_t width, float scale, float offset,
                 const CropFlip& crop, float* out) {
  const auto h = static_cast<std::ptrdiff_t>(height), w = static_cast<std::ptrdiff_t>(width);
  const std::ptrdiff_t shift_y =
      static_cast<std::ptrdiff_t>(crop.dy) - static_cast<std::ptrdiff_t>(crop.padding);
  const std::ptrdiff_t shift_x =
      static_cast<std::ptrdiff_t>(crop.dx) - static_cast<std::ptrdiff_t>(crop.padding);
  if (shift_y == 0 && shift_x == 0 && !crop.flip) {
    // The common case (no augmentation): one contiguous, vectorizable pass.
    const std::size_t n = height * width;
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]) * scale + offset;
    return;
  }
  const float pad = offset;  // a zero pixel, normalized
  // Output column x reads source column x + shift_x, or (W−1−x) + shift_x when flipped; both are
  // inside the image for x in [x_begin, x_end).
  const std::ptrdiff_t x_begin =
      crop.flip ? std::max<std::ptrdiff_t>(0, shift_x) : std::max<std::ptrdiff_t>(0, -shift_x);
  const std::ptrdiff_t x_end = crop.flip ? std::min(w, w + shift_x) : std::min(w, w - shift_x);
  for (std::ptrdiff_t y = 0; y < h; ++y) {
    float* row_out = out + y * w;
    const std::ptrdiff_t sy = y + shift_y;
    if (sy < 0 || sy >= h || x_begin >= x_end) {
      std::fill(row_out, row_out + w, pad);
      continue;
    }
    const std::uint8_t* row_in = src + sy * w;
    std::fill(row_out, row_out + x_begin, pad);
    if (crop.flip) {
      const std::ptrdiff_t mirror = w - 1 + shift_x;  // output column x reads source column mirror − x
      for (std::ptrdiff_t x = x_begin; x < x_end; ++x)
        row_out[x] = static_cast<float>(row_in[mirror - x]) * scale + offset;
    } else {
      for (std::ptrdiff_t x = x_begin; x < x_end; ++x)
        row_out[x] = static_cast<float>(row_in[x + shift_x]) * scale + offset;
    }
    std::fill(row_out + x_end, row_out + w, pad);
  }
}

}  // namespace bnlab::data
