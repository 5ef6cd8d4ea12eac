// Saving and loading a model's parameters, buffers and optimizer state, with a format version.
#pragma once

#include <iosfwd>

#include "nn/sequential.hpp"

namespace bnlab::optim {
class Optimizer;
}

namespace bnlab::nn {

// Writes a versioned binary checkpoint: every tensor with its name and shape, plus the model's
// description so a mismatched model is detected on load.
void save_checkpoint(std::ostream& out, Sequential& model, optim::Optimizer* optimizer = nullptr);
// Loads into a model of the same architecture; throws bnlab::Error naming the first mismatch (layer
// name, tensor name, shape) or an unsupported format version. Bit-exact round trip.
void load_checkpoint(std::istream& in, Sequential& model, optim::Optimizer* optimizer = nullptr);

}  // namespace bnlab::nn
