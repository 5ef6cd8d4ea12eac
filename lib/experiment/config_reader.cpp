// KeyReader: typed getters over one config object, unknown-key detection with edit-distance suggestions.
#include "experiment/config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

namespace bnlab::experiment {

KeyError::KeyError(std::string key_path, const std::string& message)
    : ConfigError(message), path(std::move(key_path)) {}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  // Up to a third of the word may be wrong (at least 1, at most 3 edits): "lrr" → "lr",
  // "batchsize" → "batch_size", but "foo" suggests nothing.
  const std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (!best.empty() || word.size() < 3) return best;
  // A truncated name ("cifar" for "cifar10") is far in edits but plainly meant.
  for (const auto& c : candidates)
    if (c.size() > word.size() && edit_distance(c.substr(0, word.size()), word) == 0) return c;
  return best;
}

std::string describe_json(const nlohmann::json& value) {
  std::string shown = value.dump();
  if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean (" + shown + ")";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "an integer (" + shown + ")";
    case nlohmann::json::value_t::number_float:
      return "a number (" + shown + ")";
    case nlohmann::json::value_t::string:
      return "a string (" + shown + ")";
    case nlohmann::json::value_t::array:
      return "a list (" + shown + ")";
    case nlohmann::json::value_t::object:
      return "an object (" + shown + ")";
    default:
      return shown;
  }
}

namespace {
std::string format_bound(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

bool Range::contains(double v) const {
  if (std::isnan(v)) return false;
  if (min && (min_open ? !(v > *min) : !(v >= *min))) return false;
  if (max && (max_open ? !(v < *max) : !(v <= *max))) return false;
  return true;
}

std::string Range::describe() const {
  if (min && max)
    return "must be in " + std::string(min_open ? "(" : "[") + format_bound(*min) + ", " +
           format_bound(*max) + (max_open ? ")" : "]");
  if (min) return std::string("must be ") + (min_open ? "> " : ">= ") + format_bound(*min);
  if (max) return std::string("must be ") + (max_open ? "< " : "<= ") + format_bound(*max);
  return "";
}

namespace {
const nlohmann::json& empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}
}  // namespace

KeyReader::KeyReader(const nlohmann::json& node, std::string path, std::string label)
    : node_(node), path_(std::move(path)), label_(std::move(label)) {
  if (!node_.is_object()) fail_here("expected an object, got " + describe_json(node_));
}

KeyReader KeyReader::sub(const std::string& key) {
  const nlohmann::json* v = lookup(key, false);
  return KeyReader(v ? *v : empty_object(), key_path(key));
}

std::string KeyReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void KeyReader::fail(const std::string& key, const std::string& message) const {
  if (label_.empty()) throw KeyError(key_path(key), key_path(key) + ": " + message);
  throw KeyError(key_path(key), path_ + " (" + label_ + "): " + key + ": " + message);
}

void KeyReader::fail_here(const std::string& message) const {
  const std::string where = label_.empty() ? path_ : path_ + " (" + label_ + ")";
  throw KeyError(path_, (where.empty() ? "config" : where) + ": " + message);
}

const nlohmann::json* KeyReader::lookup(const std::string& key, bool required) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  auto it = node_.find(key);
  if (it == node_.end()) {
    if (!required) return nullptr;
    // A misspelt key explains the missing one better than "required": "unit" for "units".
    for (auto other = node_.begin(); other != node_.end(); ++other)
      if (std::find(known_.begin(), known_.end(), other.key()) == known_.end() &&
          closest_match(other.key(), {key}) == key)
        fail(other.key(), "unknown key; did you mean \"" + key + "\"?");
    fail(key, "required but missing");
  }
  return &*it;
}

const nlohmann::json* KeyReader::raw(const std::string& key) {
  return lookup(key, false);
}

void KeyReader::check_range(const std::string& key, double v, const Range& range,
                            const nlohmann::json& raw) const {
  if (!range.contains(v)) fail(key, range.describe() + ", got " + raw.dump());
}

double KeyReader::number(const std::string& key, std::optional<double> fallback, const Range& range) {
  const nlohmann::json* v = lookup(key, !fallback);
  if (!v) {
    normalized_[key] = *fallback;
    return *fallback;
  }
  if (!v->is_number()) fail(key, "expected a number, got " + describe_json(*v));
  const double d = v->get<double>();
  check_range(key, d, range, *v);
  normalized_[key] = *v;
  return d;
}

long KeyReader::integer(const std::string& key, std::optional<long> fallback, const Range& range) {
  const nlohmann::json* v = lookup(key, !fallback);
  if (!v) {
    normalized_[key] = *fallback;
    return *fallback;
  }
  if (!v->is_number_integer()) fail(key, "expected an integer, got " + describe_json(*v));
  const long i = v->get<long>();
  check_range(key, static_cast<double>(i), range, *v);
  normalized_[key] = i;
  return i;
}

bool KeyReader::boolean(const std::string& key, std::optional<bool> fallback) {
  const nlohmann::json* v = lookup(key, !fallback);
  if (!v) {
    normalized_[key] = *fallback;
    return *fallback;
  }
  if (!v->is_boolean()) fail(key, "expected true or false, got " + describe_json(*v));
  normalized_[key] = *v;
  return v->get<bool>();
}

std::string KeyReader::string(const std::string& key, std::optional<std::string> fallback) {
  const nlohmann::json* v = lookup(key, !fallback);
  if (!v) {
    normalized_[key] = *fallback;
    return *fallback;
  }
  if (!v->is_string()) fail(key, "expected a string, got " + describe_json(*v));
  normalized_[key] = *v;
  return v->get<std::string>();
}

std::string KeyReader::choice(const std::string& key, std::optional<std::string> fallback,
                              const std::vector<std::string>& allowed) {
  const std::string value = string(key, std::move(fallback));
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return value;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  const std::string guess = closest_match(value, allowed);
  fail(key, "must be one of " + list + "; got \"" + value + "\"" +
                (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)"));
}

std::optional<double> KeyReader::nullable_number(const std::string& key, const Range& range) {
  const nlohmann::json* v = lookup(key, false);
  if (!v || v->is_null()) {
    normalized_[key] = nullptr;
    return std::nullopt;
  }
  return number(key, kRequired, range);
}

std::optional<long> KeyReader::nullable_integer(const std::string& key, const Range& range) {
  const nlohmann::json* v = lookup(key, false);
  if (!v || v->is_null()) {
    normalized_[key] = nullptr;
    return std::nullopt;
  }
  return integer(key, kRequired, range);
}

void KeyReader::reject(const std::string& key, const std::string& reason) {
  if (lookup(key, false)) fail(key, reason);
}

void KeyReader::finish() const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (std::find(known_.begin(), known_.end(), it.key()) != known_.end()) continue;
    const std::string guess = closest_match(it.key(), known_);
    if (!guess.empty()) fail(it.key(), "unknown key; did you mean \"" + guess + "\"?");
    std::vector<std::string> sorted = known_;
    std::sort(sorted.begin(), sorted.end());
    std::string list;
    for (const auto& k : sorted) list += (list.empty() ? "" : ", ") + k;
    fail(it.key(), "unknown key (valid keys here: " + list + ")");
  }
}

}  // namespace bnlab::experiment
