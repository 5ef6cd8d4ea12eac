// Typed, range-checked reading of one config object, with errors naming the dotted key path and the
// closest valid key for a typo; records what it read (defaults included) as the normalized object.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace bnlab::experiment {

// A problem at a key path of a config. what() is the full message ("train.optimizer.lr: must be > 0,
// got -1"); path is the canonical key path alone, so callers can tell where a problem lies.
struct KeyError : ConfigError {
  KeyError(std::string key_path, const std::string& message);
  std::string path;
};

// Optimal-string-alignment edit distance (insertions, deletions, substitutions, transpositions),
// case-insensitive.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The candidate a likely typo of `word` was meant to be, or empty when none is close enough.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// JSON type name for messages: "a number", "a string (\"0.1\")", "an object", ...
std::string describe_json(const nlohmann::json& value);

// An allowed interval; prints itself as "must be > 0", "must be in [0, 1)".
struct Range {
  std::optional<double> min, max;
  bool min_open = false, max_open = false;

  static Range above(double v) { return {v, std::nullopt, true, false}; }
  static Range at_least(double v) { return {v, std::nullopt, false, false}; }
  static Range closed(double lo, double hi) { return {lo, hi, false, false}; }
  static Range half_open(double lo, double hi) { return {lo, hi, false, true}; }  // [lo, hi)
  static Range open(double lo, double hi) { return {lo, hi, true, true}; }
  static Range left_open(double lo, double hi) { return {lo, hi, true, false}; }  // (lo, hi]
  bool contains(double v) const;
  std::string describe() const;
};

inline constexpr std::nullopt_t kRequired = std::nullopt;

class KeyReader {
 public:
  // path: the object's own dotted path ("" at the top level). label, when set, is shown after the path
  // in messages: "model.layers[2] (dense): units: must be >= 1, got 0".
  // Throws KeyError when node is not an object.
  KeyReader(const nlohmann::json& node, std::string path, std::string label = "");

  // The nested object at key (an empty one when absent), marked valid; store its normalized() back.
  KeyReader sub(const std::string& key);

  // Each getter marks the key as valid, checks type and range, and stores the value read (or the
  // fallback) in normalized(). kRequired as the fallback makes an absent key an error.
  double number(const std::string& key, std::optional<double> fallback, const Range& range = {});
  long integer(const std::string& key, std::optional<long> fallback, const Range& range = {});
  bool boolean(const std::string& key, std::optional<bool> fallback);
  std::string string(const std::string& key, std::optional<std::string> fallback);
  std::string choice(const std::string& key, std::optional<std::string> fallback,
                     const std::vector<std::string>& allowed);
  // null or absent give nullopt (stored as null).
  std::optional<double> nullable_number(const std::string& key, const Range& range = {});
  std::optional<long> nullable_integer(const std::string& key, const Range& range = {});

  // The raw value (nullptr when absent), marked valid; the caller checks it and calls store().
  const nlohmann::json* raw(const std::string& key);
  void store(const std::string& key, nlohmann::json value) { normalized_[key] = std::move(value); }
  // A key that belongs to another setting (e.g. momentum with adam): an error when present.
  void reject(const std::string& key, const std::string& reason);
  bool has(const std::string& key) const { return node_.contains(key); }

  // Throws for the first key that no getter asked for, suggesting the closest valid key.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  [[noreturn]] void fail_here(const std::string& message) const;
  std::string key_path(const std::string& key) const;
  const std::string& path() const { return path_; }
  const nlohmann::json& node() const { return node_; }
  nlohmann::json& normalized() { return normalized_; }

 private:
  const nlohmann::json& node_;
  std::string path_, label_;
  std::vector<std::string> known_;
  nlohmann::json normalized_ = nlohmann::json::object();

  const nlohmann::json* lookup(const std::string& key, bool required);
  void check_range(const std::string& key, double v, const Range& range, const nlohmann::json& raw) const;
};

}  // namespace bnlab::experiment
