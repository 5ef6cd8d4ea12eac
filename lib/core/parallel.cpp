// A persistent pool (threads are started once by set_threads, not per call) so a parallel layer costs two
// condition-variable hand-offs per call rather than thread creation.
#include "core/parallel.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/blas.hpp"

namespace bnlab::core {

namespace {

thread_local bool in_parallel_region = false;

class Pool {
 public:
  explicit Pool(int size) : size_(size), owner_(::getpid()) {
    for (int w = 1; w < size; ++w) workers_.emplace_back([this, w] { work(w); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }
  // A forked child has only the thread that forked: the parent's workers do not exist there.
  bool usable_here() const { return owner_ == ::getpid(); }

  void run(std::size_t count, const std::function<void(std::size_t, std::size_t, int)>& body) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      pending_ = size_ - 1;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    run_chunk(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    body_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int worker) {
    const std::size_t begin = count_ * worker / size_, end = count_ * (worker + 1) / size_;
    if (begin == end) return;
    try {
      (*body_)(begin, end, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void work(int worker) {
    in_parallel_region = true;
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      run_chunk(worker);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  int size_;
  pid_t owner_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t, std::size_t, int)>* body_ = nullptr;
  std::size_t count_ = 0, generation_ = 0;
  int pending_ = 0;
  bool quit_ = false;
  std::exception_ptr error_;
};

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> instance;
  return instance;
}

int requested_threads = 1;

}  // namespace

void set_threads(int n) {
  requested_threads = std::max(1, n);
  set_blas_threads(requested_threads);
  auto& p = pool();
  if (p && p->usable_here() && p->size() == requested_threads) return;
  if (p && !p->usable_here()) (void)p.release();  // its threads live in the parent; nothing here to join
  p.reset();
  if (requested_threads > 1) p = std::make_unique<Pool>(requested_threads);
}

int threads() {
  return requested_threads;
}

void parallel_for(std::size_t count, const std::function<void(std::size_t, std::size_t, int)>& body) {
  auto& p = pool();
  if (count == 0) return;
  if (!p || in_parallel_region || count == 1) {
    body(0, count, 0);
    return;
  }
  if (!p->usable_here()) set_threads(requested_threads);
  const int blas = blas_threads();
  set_blas_threads(1);
  in_parallel_region = true;
  try {
    pool()->run(count, body);
  } catch (...) {
    in_parallel_region = false;
    set_blas_threads(blas);
    throw;
  }
  in_parallel_region = false;
  set_blas_threads(blas);
}

}  // namespace bnlab::core
