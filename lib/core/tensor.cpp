// Shape formatting for error messages and model summaries.
#include "core/tensor.hpp"

namespace bnlab {

std::string to_string(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

}  // namespace bnlab
