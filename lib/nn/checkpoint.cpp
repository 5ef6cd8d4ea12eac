// Checkpoint format v1: magic, version, JSON header (model description, tensor names and shapes), raw
// little-endian float32 data, CRC-32. Loading validates everything before touching the model.
#include "nn/checkpoint.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <zlib.h>

#include "core/error.hpp"
#include "optim/optimizer.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoints store little-endian float32 as raw bytes");

namespace bnlab::nn {

namespace {

constexpr char kMagic[8] = {'B', 'N', 'L', 'A', 'B', 'C', 'K', 'P'};
constexpr std::uint32_t kVersion = 1;
// A header is a few kB per layer; anything near this size is corruption, not a model.
constexpr std::uint64_t kMaxHeaderBytes = 64ull << 20;

struct Entry {
  std::string name, role;  // role: "param", "buffer" or "optimizer"
  Tensor* tensor;
};

std::vector<Entry> entries_of(Sequential& model, optim::Optimizer* optimizer) {
  std::vector<Entry> out;
  for (auto& p : model.params()) out.push_back({p.name, "param", p.value});
  for (auto& b : model.buffers()) out.push_back({b.name, "buffer", b.value});
  if (optimizer)
    for (auto& s : optimizer->state()) out.push_back({s.name, "optimizer", s.value});
  return out;
}

class CrcWriter {
 public:
  explicit CrcWriter(std::ostream& out) : out_(out) {}
  void write(const void* data, std::size_t bytes) {
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    if (!out_) throw Error("checkpoint: writing failed after " + std::to_string(written_) + " bytes");
    crc_ = crc32_z(crc_, static_cast<const Bytef*>(data), bytes);
    written_ += bytes;
  }
  std::uint32_t crc() const { return static_cast<std::uint32_t>(crc_); }

 private:
  std::ostream& out_;
  uLong crc_ = crc32_z(0L, Z_NULL, 0);
  std::uint64_t written_ = 0;
};

class CrcReader {
 public:
  explicit CrcReader(std::istream& in) : in_(in) {}
  // Reads exactly `bytes` or throws, naming what was being read.
  void read(void* data, std::size_t bytes, const std::string& what) {
    in_.read(static_cast<char*>(data), static_cast<std::streamsize>(bytes));
    const auto got = static_cast<std::size_t>(in_.gcount());
    if (got != bytes)
      throw Error("checkpoint is truncated: expected " + std::to_string(bytes) + " bytes of " + what +
                  ", got " + std::to_string(got));
    crc_ = crc32_z(crc_, static_cast<const Bytef*>(data), bytes);
  }
  std::uint32_t crc() const { return static_cast<std::uint32_t>(crc_); }

 private:
  std::istream& in_;
  uLong crc_ = crc32_z(0L, Z_NULL, 0);
};

Shape shape_from_json(const nlohmann::json& j, const std::string& name) {
  if (!j.is_array()) throw Error("checkpoint header: tensor '" + name + "' has no shape array");
  Shape s;
  for (const auto& d : j) {
    if (!d.is_number_unsigned())
      throw Error("checkpoint header: tensor '" + name + "' has a malformed shape");
    s.push_back(d.get<std::size_t>());
  }
  return s;
}

// The layer part of a tensor name "<index>.<type>.<param>", for error messages.
std::string layer_of(const std::string& name) {
  const auto first = name.find('.');
  const auto second = first == std::string::npos ? first : name.find('.', first + 1);
  return second == std::string::npos ? name : name.substr(0, second);
}

std::string describe_tensor(const std::string& name, const std::string& role) {
  if (role == "optimizer") return "optimizer state '" + name + "'";
  return role + " '" + name + "' (layer " + layer_of(name) + ")";
}

}  // namespace

void save_checkpoint(std::ostream& out, Sequential& model, optim::Optimizer* optimizer) {
  const std::vector<Entry> entries = entries_of(model, optimizer);
  nlohmann::json header{{"model", model.describe()},
                        {"optimizer", optimizer ? optimizer->describe() : nlohmann::json()},
                        {"tensors", nlohmann::json::array()}};
  for (const auto& e : entries)
    header["tensors"].push_back({{"name", e.name}, {"role", e.role}, {"shape", shape_of(*e.tensor)}});
  const std::string text = header.dump();

  out.write(kMagic, sizeof kMagic);
  out.write(reinterpret_cast<const char*>(&kVersion), sizeof kVersion);
  if (!out) throw Error("checkpoint: writing the file signature failed");
  CrcWriter writer(out);
  const std::uint64_t header_bytes = text.size();
  writer.write(&header_bytes, sizeof header_bytes);
  writer.write(text.data(), text.size());
  for (const auto& e : entries) writer.write(e.tensor->data(), e.tensor->size() * sizeof(float));
  const std::uint32_t crc = writer.crc();
  out.write(reinterpret_cast<const char*>(&crc), sizeof crc);
  if (!out) throw Error("checkpoint: writing the checksum failed");
}

void load_checkpoint(std::istream& in, Sequential& model, optim::Optimizer* optimizer) {
  char magic[sizeof kMagic];
  in.read(magic, sizeof magic);
  if (in.gcount() != static_cast<std::streamsize>(sizeof magic) ||
      std::memcmp(magic, kMagic, sizeof magic) != 0)
    throw Error("not a bnlab checkpoint: the file does not start with the \"BNLABCKP\" signature");
  std::uint32_t version = 0;
  in.read(reinterpret_cast<char*>(&version), sizeof version);
  if (in.gcount() != static_cast<std::streamsize>(sizeof version))
    throw Error("checkpoint is truncated: no format version after the signature");
  if (version != kVersion)
    throw Error("checkpoint format version " + std::to_string(version) +
                " is not supported (this bnlab reads version " + std::to_string(kVersion) + ")");

  CrcReader reader(in);
  std::uint64_t header_bytes = 0;
  reader.read(&header_bytes, sizeof header_bytes, "header length");
  if (header_bytes > kMaxHeaderBytes)
    throw Error("checkpoint header claims " + std::to_string(header_bytes) + " bytes: the file is corrupt");
  std::string text(header_bytes, '\0');
  reader.read(text.data(), text.size(), "header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("checkpoint header is not valid JSON: ") + e.what());
  }
  if (!header.is_object() || !header.contains("tensors") || !header["tensors"].is_array() ||
      !header.contains("model"))
    throw Error("checkpoint header lacks its model description or tensor list");

  if (optimizer) {
    const nlohmann::json saved_opt = header.value("optimizer", nlohmann::json());
    const std::string want = optimizer->describe().value("type", std::string("?"));
    if (!saved_opt.is_object())
      throw Error("checkpoint holds no optimizer state, but a " + want +
                  " optimizer was given to load it into");
    const std::string got = saved_opt.value("type", std::string("?"));
    if (got != want)
      throw Error("checkpoint optimizer is " + got + " but the optimizer to load into is " + want);
  }

  // Match every stored tensor against the model (and optimizer) before reading any data.
  const std::vector<Entry> wanted = entries_of(model, optimizer);
  std::map<std::pair<std::string, std::string>, const Entry*> by_key;
  for (const auto& e : wanted) by_key[{e.role, e.name}] = &e;

  struct Stored {
    std::string name, role;
    Shape shape;
    Tensor* target;  // nullptr: optimizer state we were not asked to load; its bytes are skipped
  };
  std::vector<Stored> stored;
  std::map<std::pair<std::string, std::string>, bool> seen;
  for (const auto& t : header["tensors"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("role") ||
        !t["role"].is_string())
      throw Error("checkpoint header has a malformed tensor entry");
    Stored s{t["name"].get<std::string>(), t["role"].get<std::string>(), {}, nullptr};
    s.shape = shape_from_json(t.value("shape", nlohmann::json()), s.name);
    if (!seen.emplace(std::make_pair(s.role, s.name), true).second)
      throw Error("checkpoint header lists " + describe_tensor(s.name, s.role) + " twice");
    if (s.role == "optimizer" && optimizer == nullptr) {
      stored.push_back(std::move(s));
      continue;
    }
    const auto it = by_key.find({s.role, s.name});
    if (it == by_key.end())
      throw Error("checkpoint " + describe_tensor(s.name, s.role) + " has no counterpart in " +
                  (s.role == "optimizer" ? "the optimizer" : "the model") +
                  ": different architecture or optimizer");
    const Shape model_shape = shape_of(*it->second->tensor);
    if (model_shape != s.shape)
      throw Error("checkpoint " + describe_tensor(s.name, s.role) + " has shape " + to_string(s.shape) +
                  " but the " + (s.role == "optimizer" ? "optimizer" : "model") + " has " +
                  to_string(model_shape));
    s.target = it->second->tensor;
    stored.push_back(std::move(s));
  }
  for (const auto& e : wanted)
    if (!seen.count({e.role, e.name}))
      throw Error("checkpoint lacks " + describe_tensor(e.name, e.role) +
                  (e.role == "optimizer" ? ": it was saved without this optimizer's state" : ""));

  // Tensors agree; layers without tensors (activations, pooling, dropout) must agree too.
  const nlohmann::json& saved_layers = header["model"];
  const nlohmann::json model_layers = model.describe();
  if (!saved_layers.is_array() || saved_layers.size() != model_layers.size())
    throw Error("checkpoint model has " + std::to_string(saved_layers.is_array() ? saved_layers.size() : 0) +
                " layers but the model has " + std::to_string(model_layers.size()));
  for (std::size_t i = 0; i < model_layers.size(); ++i)
    if (saved_layers[i] != model_layers[i])
      throw Error("checkpoint layer " + std::to_string(i) + " is " + saved_layers[i].dump() +
                  " but the model has " + model_layers[i].dump());

  // Read into staging buffers, verify the checksum, and only then overwrite the model. Optimizer state
  // nobody asked for streams through a small scratch buffer (its shape is unchecked, so never allocated).
  std::vector<std::vector<float>> data(stored.size());
  std::vector<char> scratch(1 << 16);
  for (std::size_t k = 0; k < stored.size(); ++k) {
    const std::string what = "data for " + describe_tensor(stored[k].name, stored[k].role);
    if (stored[k].target) {
      data[k].resize(element_count(stored[k].shape));
      reader.read(data[k].data(), data[k].size() * sizeof(float), what);
      continue;
    }
    for (std::uint64_t left = element_count(stored[k].shape) * sizeof(float); left > 0;) {
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, scratch.size()));
      reader.read(scratch.data(), chunk, what);
      left -= chunk;
    }
  }
  const std::uint32_t expected_crc = reader.crc();
  std::uint32_t crc = 0;
  in.read(reinterpret_cast<char*>(&crc), sizeof crc);
  if (in.gcount() != static_cast<std::streamsize>(sizeof crc))
    throw Error("checkpoint is truncated: the checksum after the tensor data is missing");
  if (crc != expected_crc)
    throw Error("checkpoint is corrupt: checksum mismatch over header and tensor data");

  for (std::size_t k = 0; k < stored.size(); ++k)
    if (stored[k].target)
      std::memcpy(stored[k].target->data(), data[k].data(), data[k].size() * sizeof(float));
}

}  // namespace bnlab::nn
