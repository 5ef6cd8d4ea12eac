// Reads the CSV files a run writes (header row, RFC 4180 quoting) into a table of text cells.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace bnlab::experiment {

// A run directory (or one of its files) that is missing, unreadable or malformed.
struct RunDirError : Error {
  using Error::Error;
};

class CsvTable {
 public:
  CsvTable() = default;
  CsvTable(std::string origin, std::vector<std::string> header, std::vector<std::vector<std::string>> rows);

  const std::string& origin() const { return origin_; }
  const std::vector<std::string>& header() const { return header_; }
  std::size_t size() const { return rows_.size(); }
  bool has(const std::string& column) const { return index_of(column).has_value(); }

  // The cell's text, or "" when the file has no such column.
  const std::string& text(std::size_t row, const std::string& column) const;
  // The cell as a number; nullopt when empty or the column is absent. Throws RunDirError naming the file,
  // line and column when the cell holds something else.
  std::optional<double> number(std::size_t row, const std::string& column) const;

  // Rows dropped because their cell count differed from the header (a line cut short mid-write).
  std::size_t malformed_rows = 0;

 private:
  std::optional<std::size_t> index_of(const std::string& column) const;

  std::string origin_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// origin names the text in error messages (usually the file path).
CsvTable parse_csv(const std::string& text, const std::string& origin);
// Throws RunDirError naming the path when the file cannot be read.
CsvTable read_csv(const std::string& path);

}  // namespace bnlab::experiment
