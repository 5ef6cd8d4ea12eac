// Writes one uint8 image plane as normalized floats, optionally cropped from a zero-padded canvas and
// mirrored.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bnlab::data {

struct Augmentation {
  std::size_t crop_padding = 0;  // random crop with zero padding of this many pixels (0 = off)
  bool horizontal_flip = false;  // flip with probability 1/2
};

// Where one sample's crop window sits on the canvas padded by `padding` on every side (offsets in
// [0, 2·padding]; offset == padding is the uncropped image), and whether it is mirrored afterwards.
struct CropFlip {
  std::size_t padding = 0, dy = 0, dx = 0;
  bool flip = false;
};

// out[y][x] = scale·p + offset for the pixel p the crop window and flip map (y, x) to; padding pixels
// are 0 before normalization, as torchvision's RandomCrop(padding) followed by Normalize gives.
void write_plane(const std::uint8_t* src, std::size_t height, std::size_t width, float scale, float offset,
                 const CropFlip& crop, float* out);

}  // namespace bnlab::data
