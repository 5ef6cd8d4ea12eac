// A fresh directory under the system temp dir, removed with everything in it when the test ends.
#pragma once

#include <filesystem>
#include <string>

namespace bnlab::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "bnlab-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace bnlab::test
