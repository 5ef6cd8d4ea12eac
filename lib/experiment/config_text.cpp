// Parsing config text: positions of syntax errors, duplicate keys, key order of variants and sweep.
#include "experiment/config_text.hpp"

#include <functional>
#include <set>

#include "core/error.hpp"

namespace bnlab::experiment {

namespace {

// 1-based line and column of a byte offset, for JSON syntax errors.
std::pair<std::size_t, std::size_t> line_and_column(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// nlohmann keeps the last of two equal keys; in a config that silently drops a setting, so the parse
// records the first duplicate with its path.
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, nlohmann::ordered_json::parse_event_t event,
                  nlohmann::ordered_json& parsed) {
    using Event = nlohmann::ordered_json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        frames_.push_back({event == Event::array_start, {}, "", 0});
        break;
      case Event::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second && duplicate_.empty()) duplicate_ = path() + f.key;
        break;
      }
      case Event::value:
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
        break;
      case Event::object_end:
      case Event::array_end:
        frames_.pop_back();
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
        break;
    }
    return true;
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool array;
    std::set<std::string> keys;
    std::string key;
    std::size_t index;
  };
  // The path of the innermost object, ending in '.' when not at the top ("train.optimizer.").
  std::string path() const {
    std::string p;
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      if (frames_[i].array)
        p += "[" + std::to_string(frames_[i].index) + "]";
      else
        p += (p.empty() ? "" : ".") + frames_[i].key;
    }
    return p.empty() ? p : p + ".";
  }
  std::vector<Frame> frames_;
  std::string duplicate_;
};

}  // namespace

ConfigText parse_config_text(const std::string& text, const std::string& origin) {
  nlohmann::ordered_json ordered;
  DuplicateKeyFinder duplicates;
  try {
    ordered = nlohmann::ordered_json::parse(text, std::ref(duplicates));
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte counts the characters read, the offending one included.
    const auto [line, column] = line_and_column(text, e.byte == 0 ? 0 : e.byte - 1);
    std::string reason = e.what();
    const auto column_at = reason.find("column ");
    const auto colon = column_at == std::string::npos ? reason.find("] ") : reason.find(": ", column_at);
    if (colon != std::string::npos) reason = reason.substr(colon + 2);
    throw ConfigError(origin + ": line " + std::to_string(line) + ", column " + std::to_string(column) +
                      ": invalid JSON: " + reason);
  }
  if (!duplicates.duplicate().empty())
    throw ConfigError(origin + ": " + duplicates.duplicate() + ": the key appears twice in the same object");
  ConfigText out;
  if (ordered.is_object()) {
    for (const char* section : {"variants", "sweep"}) {
      auto it = ordered.find(section);
      if (it == ordered.end() || !it->is_object()) continue;
      auto& keys = std::string(section) == "variants" ? out.variant_order : out.sweep_order;
      for (auto k = it->begin(); k != it->end(); ++k) keys.push_back(k.key());
    }
  }
  out.config = nlohmann::json::parse(text);
  return out;
}

}  // namespace bnlab::experiment
