// Saving and loading a model's parameters, buffers and optimizer state, with a format version.
#pragma once

#include <iosfwd>

#include "nn/sequential.hpp"

namespace bnlab::optim {
class Optimizer;
}

namespace bnlab::nn {

// Writes a versioned binary checkpoint (format 1, little-endian):
//   "BNLABCKP" | u32 version | u64 header size | JSON header | float32 data of each tensor | u32 CRC-32
// The header holds the model's description (one entry per layer), the optimizer's description (or null)
// and every tensor's name, role ("param", "buffer", "optimizer") and shape, in data order; the CRC covers
// everything after the version.
void save_checkpoint(std::ostream& out, Sequential& model, optim::Optimizer* optimizer = nullptr);
// Loads into a model of the same architecture; throws bnlab::Error naming the first mismatch (layer
// name, tensor name, shape), an unsupported format version, truncation or a checksum mismatch. Nothing is
// written into the model before the whole file has been read and checked. Bit-exact round trip. With no
// optimizer given, stored optimizer state is skipped; with one, the checkpoint must hold its state.
void load_checkpoint(std::istream& in, Sequential& model, optim::Optimizer* optimizer = nullptr);

}  // namespace bnlab::nn
