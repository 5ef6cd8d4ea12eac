// Error types: each names what the user must fix (a config key, a file, a layer).
#pragma once

#include <stdexcept>
#include <string>

namespace bnlab {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A model that cannot be built or run as specified (shapes, illegal batch for a layer).
struct ShapeError : Error {
  using Error::Error;
};
// A config key with a wrong type, unknown name or out-of-range value.
struct ConfigError : Error {
  using Error::Error;
};
// A dataset file that is missing, truncated or corrupt.
struct DataError : Error {
  using Error::Error;
};

}  // namespace bnlab
