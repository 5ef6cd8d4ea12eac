// CSV parsing for run files: quoted cells may hold commas, quotes ("") and line breaks.
#include "experiment/csv_reader.hpp"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace bnlab::experiment {

namespace {
const std::string kEmpty;
}

CsvTable::CsvTable(std::string origin, std::vector<std::string> header,
                   std::vector<std::vector<std::string>> rows)
    : origin_(std::move(origin)), header_(std::move(header)), rows_(std::move(rows)) {}

std::optional<std::size_t> CsvTable::index_of(const std::string& column) const {
  for (std::size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == column) return i;
  return std::nullopt;
}

const std::string& CsvTable::text(std::size_t row, const std::string& column) const {
  auto i = index_of(column);
  return i ? rows_.at(row)[*i] : kEmpty;
}

std::optional<double> CsvTable::number(std::size_t row, const std::string& column) const {
  const std::string& cell = text(row, column);
  if (cell.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size() || errno == ERANGE)
    // +2: line 1 is the header and rows count from 0.
    throw RunDirError(origin_ + ": line " + std::to_string(row + 2) + ", column '" + column +
                      "': expected a number, found '" + cell + "'");
  return value;
}

CsvTable parse_csv(const std::string& text, const std::string& origin) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string cell;
  bool quoted = false, cell_started = false;
  auto end_cell = [&] {
    record.push_back(std::move(cell));
    cell.clear();
    cell_started = false;
  };
  auto end_record = [&] {
    end_cell();
    // A blank line is no record (a trailing newline, or a file still being written).
    if (!(record.size() == 1 && record[0].empty())) records.push_back(std::move(record));
    record.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c != '"') {
        cell += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"' && !cell_started) {
      quoted = cell_started = true;
    } else if (c == ',') {
      end_cell();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
    } else {
      cell += c;
      cell_started = true;
    }
  }
  if (quoted) throw RunDirError(origin + ": a quoted cell is not closed before the end of the file");
  if (cell_started || !record.empty()) end_record();
  if (records.empty()) throw RunDirError(origin + ": empty file (no header row)");

  std::vector<std::string> header = std::move(records.front());
  std::vector<std::vector<std::string>> rows;
  std::size_t malformed = 0;
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() == header.size())
      rows.push_back(std::move(records[r]));
    else
      ++malformed;
  }
  CsvTable table(origin, std::move(header), std::move(rows));
  table.malformed_rows = malformed;
  return table;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RunDirError(path + ": cannot open file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_csv(text.str(), path);
}

}  // namespace bnlab::experiment
