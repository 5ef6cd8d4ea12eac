// Dotted key paths: parsing, display form and setting values inside a JSON config.
#include "experiment/dotted_path.hpp"

#include <cctype>

#include "core/error.hpp"
#include "experiment/config_reader.hpp"

namespace bnlab::experiment {

namespace {
bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}
}  // namespace

std::vector<PathStep> parse_path(const std::string& dotted) {
  if (dotted.empty()) throw ConfigError("empty key path");
  std::vector<PathStep> steps;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    std::size_t end = dotted.find('.', start);
    if (end == std::string::npos) end = dotted.size();
    std::string piece = dotted.substr(start, end - start);
    // "layers[2][0]" → key "layers", then indexes 2 and 0.
    const std::size_t bracket = piece.find('[');
    std::string head = piece.substr(0, bracket);
    if (head.empty() && bracket != 0) throw ConfigError("key path \"" + dotted + "\": empty step");
    if (!head.empty()) {
      PathStep step{head};
      if (all_digits(head)) {
        step.numeric = true;
        step.index = std::stoul(head);
      }
      steps.push_back(step);
    }
    std::size_t pos = bracket;
    while (pos != std::string::npos && pos < piece.size()) {
      const std::size_t close = piece.find(']', pos);
      const std::string inside = close == std::string::npos ? "" : piece.substr(pos + 1, close - pos - 1);
      if (!all_digits(inside) || (close + 1 < piece.size() && piece[close + 1] != '['))
        throw ConfigError("key path \"" + dotted + "\": malformed index in \"" + piece + "\"");
      PathStep step{inside};
      step.bracketed = true;
      step.index = std::stoul(inside);
      steps.push_back(step);
      pos = close + 1;
    }
    start = end + 1;
  }
  return steps;
}

std::string display_path(const std::vector<PathStep>& steps) {
  std::string out;
  for (const auto& s : steps) {
    if (s.bracketed || (s.numeric && !out.empty()))
      out += "[" + std::to_string(s.index) + "]";
    else
      out += (out.empty() ? "" : ".") + s.key;
  }
  return out;
}

std::string display_path(const std::string& dotted) {
  return display_path(parse_path(dotted));
}

bool path_within(const std::string& inner, const std::string& outer) {
  if (inner.compare(0, outer.size(), outer) != 0) return false;
  return inner.size() == outer.size() || inner[outer.size()] == '.' || inner[outer.size()] == '[';
}

void set_path(nlohmann::json& root, const std::string& dotted, const nlohmann::json& value) {
  const std::vector<PathStep> steps = parse_path(dotted);
  nlohmann::json* node = &root;
  std::vector<PathStep> walked;
  for (const auto& step : steps) {
    if (node->is_null()) *node = nlohmann::json::object();
    if (node->is_array()) {
      if (!step.numeric && !step.bracketed)
        throw KeyError(display_path(walked), display_path(walked) + ": is a list; \"" + step.key +
                                                 "\" must be an index such as " + display_path(walked) +
                                                 "[0]");
      if (step.index >= node->size())
        throw KeyError(display_path(walked), display_path(walked) + ": index " + std::to_string(step.index) +
                                                 " is out of range (the list has " +
                                                 std::to_string(node->size()) + " entries)");
      node = &(*node)[step.index];
    } else if (node->is_object()) {
      if (step.bracketed)
        throw KeyError(display_path(walked), display_path(walked) + ": is an object, not a list");
      node = &(*node)[step.key];
    } else {
      const std::string where = display_path(walked);
      throw KeyError(where, where + ": is " + describe_json(*node) + ", so " + display_path(steps) +
                                " cannot be set inside it");
    }
    walked.push_back(step);
  }
  *node = value;
}

}  // namespace bnlab::experiment
