// Config text → JSON: syntax errors with line and column, keys written twice, and the written order of
// the variants and sweep keys (nlohmann::json sorts object keys).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bnlab::experiment {

struct ConfigText {
  nlohmann::json config;
  std::vector<std::string> variant_order, sweep_order;
};

// Throws ConfigError starting with origin: "configs/x.json: line 3, column 15: invalid JSON: ...", or
// "configs/x.json: train.optimizer.lr: the key appears twice in the same object".
ConfigText parse_config_text(const std::string& text, const std::string& origin);

}  // namespace bnlab::experiment
