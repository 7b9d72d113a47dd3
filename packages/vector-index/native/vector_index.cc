// Native core of @select/vector-index: a usearch HNSW graph plus a blocked exact (brute-force) search
// over the very vectors the graph stores, so that exact search costs no second copy of the data.
//
// Why a small addon of our own instead of usearch's Node binding: that binding runs every call on the
// JavaScript thread, cannot filter a search, cannot change the search breadth per call, and its exact
// search materialises a queries x vectors distance matrix (160 GB for 10k x 1M). Everything here runs
// on libuv worker threads (Napi::AsyncWorker), fans out over `threads` native threads, and returns a
// Promise. usearch builds, saves and loads the graph; f32 vectors are stored in aligned rows of our own
// (slab_t) that usearch's vector table points into, and f32 searches walk the graph with our own loop
// (graph_walk) and f32 kernels, which is what brought search past FAISS's speed on this machine.
//
// Keys are the caller's dense row numbers (uint64); the caller maps its string ids onto them.

#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <usearch/index_dense.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define SVI_X86 1
#endif

namespace {

using namespace unum::usearch;
using dense_t = index_dense_t;
using key_type = dense_t::vector_key_t;

// Thread contexts reserved in the graph: every concurrently running native thread needs one.
constexpr std::size_t kThreadContexts = 64;

enum class metric_t { ip, l2sq };

struct filter_t {
    std::vector<std::uint8_t> mask;
    bool invert = false;
    bool active = false;
    bool allows(std::uint64_t key) const noexcept {
        if (!active)
            return true;
        bool bit = key < mask.size() && mask[key] != 0;
        return bit != invert;
    }
};

// The best `capacity` results with score >= floor; a heap whose root is the weakest kept result.
// "Better" is the larger score, and among equal scores the smaller key, so a result set built with
// the keyed admits() is the same whatever order the candidates came in.
class top_t {
  public:
    using entry_t = std::pair<float, std::uint64_t>;
    top_t(std::size_t capacity = 0, float floor = -std::numeric_limits<float>::infinity())
        : capacity_(capacity), floor_(floor) {}

    inline bool admits(float score) const noexcept {
        if (heap_.size() < capacity_)
            return score >= floor_;
        return capacity_ != 0 && score > heap_.front().first;
    }
    // With the tie-break on keys: an equal score enters when its key is smaller than the root's.
    inline bool admits(float score, std::uint64_t key) const noexcept {
        if (heap_.size() < capacity_)
            return score >= floor_;
        if (capacity_ == 0)
            return false;
        entry_t const& root = heap_.front();
        return score > root.first || (score == root.first && key < root.second);
    }
    // The smallest score admits() can still let in.
    inline float threshold() const noexcept {
        if (heap_.size() < capacity_)
            return floor_;
        return capacity_ == 0 ? std::numeric_limits<float>::infinity() : heap_.front().first;
    }
    inline void push(float score, std::uint64_t key) {
        if (heap_.size() < capacity_) {
            heap_.emplace_back(score, key);
            std::push_heap(heap_.begin(), heap_.end(), better);
        } else {
            std::pop_heap(heap_.begin(), heap_.end(), better);
            heap_.back() = {score, key};
            std::push_heap(heap_.begin(), heap_.end(), better);
        }
    }
    void merge(top_t const& other) {
        for (auto const& e : other.heap_)
            if (admits(e.first, e.second))
                push(e.first, e.second);
    }
    // Best first; equal scores by ascending key, so that results are deterministic.
    std::vector<entry_t> sorted() const {
        std::vector<entry_t> out(heap_);
        std::sort(out.begin(), out.end(), better);
        return out;
    }

  private:
    // The heap's "less than" is "better than", so its root (the largest) is the weakest.
    static bool better(entry_t const& a, entry_t const& b) noexcept {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    }
    std::size_t capacity_;
    float floor_;
    std::vector<entry_t> heap_;
};

// Thread contexts of the graph used by our own searches. Graph mutations (add, remove) hold the
// exclusive lock and use usearch's own pool of the same ids, so the two never overlap.
class context_pool_t {
  public:
    context_pool_t() {
        for (std::size_t i = kThreadContexts; i-- > 0;)
            free_.push_back(i);
    }
    std::size_t acquire() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (free_.empty())
            throw std::runtime_error("too many concurrent searches");
        std::size_t id = free_.back();
        free_.pop_back();
        return id;
    }
    void release(std::size_t id) {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.push_back(id);
    }

  private:
    std::mutex mutex_;
    std::vector<std::size_t> free_;
};

// Per search context: a visited table of one byte per node (generation-stamped, so it is cleared only
// once every 255 queries; one byte keeps more of it in cache) and the walk's heaps; created on first use.
struct walk_scratch_t {
    std::vector<std::uint8_t> visited;
    std::uint8_t generation = 0;
    std::vector<std::pair<float, std::uint32_t>> candidates; // min-heap on distance
    std::vector<std::pair<float, std::uint32_t>> results;    // max-heap on distance, at most `breadth`
    std::vector<std::uint32_t> batch;
    std::vector<float const*> pointers;

    void begin(std::size_t slots) {
        if (visited.size() < slots)
            visited.resize(slots + slots / 4 + 1024, 0);
        if (++generation == 0) {
            std::fill(visited.begin(), visited.end(), 0);
            generation = 1;
        }
        candidates.clear();
        results.clear();
    }
    bool visit(std::uint32_t slot) noexcept {
        if (visited[slot] == generation)
            return false;
        visited[slot] = generation;
        return true;
    }
};

class scratch_pool_t {
  public:
    walk_scratch_t& get(std::size_t context) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto& slot = by_context_[context];
        if (!slot)
            slot = std::make_unique<walk_scratch_t>();
        return *slot;
    }

  private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<walk_scratch_t>> by_context_ = std::vector<std::unique_ptr<walk_scratch_t>>(kThreadContexts);
};

// The stored vectors of an f32 index: one row per graph slot, each row 64-byte aligned (its stride a
// multiple of 64 bytes), all in one mapping of our own, so that a vector's address is base + slot x
// stride. usearch's own storage hands out vectors 8-byte aligned behind a 16-byte arena header, so a
// 512-d row started 16 bytes into a cache line: every 64-byte load straddled two lines and a row
// spanned 33 lines instead of 32, and the walk also looked up each vector's address in a pointer
// table. Measured at 1M x 512 (2 threads, ef 48, same graph): 7,542 QPS from usearch's storage,
// 6,766 from a contiguous copy 16 bytes off alignment, 8,450 aligned, 8,816 aligned and addressed
// by slot (no pointer table read). usearch keeps its table of vector pointers (saving, exact search
// and its own code read vectors through it); it points into the slab.
//
// Address space is reserved up front (MAP_NORESERVE: untouched pages cost nothing) and advised for
// transparent huge pages; only rows written are resident. When a reservation fills up the rows move
// to a larger one and the pointer table is redone.
class slab_t {
  public:
    slab_t() = default;
    slab_t(slab_t const&) = delete;
    slab_t& operator=(slab_t const&) = delete;
    ~slab_t() { unmap(); }

    // `reserve_bytes`: address space taken at first (and after each move: at least twice as much).
    void configure(std::size_t row_bytes, std::size_t reserve_bytes) noexcept {
        row_bytes_ = row_bytes;
        stride_ = (row_bytes + 63) / 64 * 64;
        reserve_bytes_ = reserve_bytes;
    }
    std::size_t row_bytes() const noexcept { return row_bytes_; }
    char* row(std::size_t slot) const noexcept { return base_ + slot * stride_; }
    // Bytes of rows in use (what is resident, give or take one huge page).
    std::size_t used_bytes() const noexcept { return used_rows_ * stride_; }
    std::size_t used_rows() const noexcept { return used_rows_; }
    void set_used(std::size_t rows) noexcept { used_rows_ = std::max(used_rows_, rows); }
    void clear() noexcept { used_rows_ = 0, collapsed_bytes_ = 0; }

    // Room for `rows` rows; returns true when the rows moved (every row's address changed).
    bool reserve(std::size_t rows) {
        if (rows <= capacity_rows_)
            return false;
        std::size_t want = std::max({rows, capacity_rows_ * 2, std::size_t(1)});
        // A generous reservation first (address space only, on Linux), then just what is needed.
#if defined(__linux__)
        std::size_t generous = std::max(want, reserve_bytes_ / stride_);
#else
        std::size_t generous = want;
#endif
        char* fresh = nullptr;
        std::size_t fresh_rows = 0;
        for (std::size_t attempt : {generous, want}) {
            fresh = map(attempt * stride_);
            if (fresh) {
                fresh_rows = attempt;
                break;
            }
        }
        if (!fresh)
            throw std::bad_alloc();
        bool moved = base_ != nullptr;
        if (moved) {
            std::memcpy(fresh, base_, used_rows_ * stride_);
            unmap();
        }
        base_ = fresh, capacity_rows_ = fresh_rows, mapped_bytes_ = round_up(fresh_rows * stride_);
        collapsed_bytes_ = 0;
        return moved;
    }

    // Asks for huge pages behind rows [0, used) that did not get them when they were first touched
    // (MADV_COLLAPSE, Linux 6.1+); best effort.
    void collapse() noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
#if !defined(MADV_COLLAPSE)
        constexpr int collapse_advice = 25;
#else
        constexpr int collapse_advice = MADV_COLLAPSE;
#endif
        std::size_t used = used_rows_ * stride_;
        std::size_t end = std::min(round_up(used), mapped_bytes_);
        if (end > collapsed_bytes_)
            madvise(base_ + collapsed_bytes_, end - collapsed_bytes_, collapse_advice);
        // Wholly filled regions are done; a partly filled last one is asked again after the next add.
        collapsed_bytes_ = used / huge * huge;
#endif
    }

  private:
    static constexpr std::size_t huge = std::size_t(2) << 20;
    static std::size_t round_up(std::size_t bytes) noexcept { return (bytes + huge - 1) / huge * huge; }

    // `bytes` of zeroed, 2 MiB-aligned, huge-page-advised address space, or nullptr.
    static char* map(std::size_t bytes) noexcept {
#if defined(__linux__)
        std::size_t size = round_up(bytes) + huge;
        void* raw = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (raw == MAP_FAILED)
            return nullptr;
        auto start = reinterpret_cast<std::uintptr_t>(raw);
        std::uintptr_t aligned = (start + huge - 1) & ~(std::uintptr_t(huge) - 1);
        // Trim the slack on both sides, so that the mapping is exactly [aligned, aligned + round_up(bytes)).
        if (aligned > start)
            munmap(raw, aligned - start);
        std::uintptr_t end = aligned + round_up(bytes);
        if (start + size > end)
            munmap(reinterpret_cast<void*>(end), start + size - end);
#if defined(MADV_HUGEPAGE)
        madvise(reinterpret_cast<void*>(aligned), round_up(bytes), MADV_HUGEPAGE);
#endif
        return reinterpret_cast<char*>(aligned);
#else
        void* p = std::aligned_alloc(huge, round_up(bytes));
        if (p)
            std::memset(p, 0, round_up(bytes));
        return static_cast<char*>(p);
#endif
    }
    void unmap() noexcept {
        if (!base_)
            return;
#if defined(__linux__)
        munmap(base_, mapped_bytes_);
#else
        std::free(base_);
#endif
        base_ = nullptr, capacity_rows_ = 0, mapped_bytes_ = 0;
    }

    char* base_ = nullptr;
    std::size_t row_bytes_ = 0, stride_ = 64, reserve_bytes_ = 0, capacity_rows_ = 0, mapped_bytes_ = 0, used_rows_ = 0,
                collapsed_bytes_ = 0;
};

struct state_t {
    dense_t index;
    mutable std::shared_mutex mutex;
    metric_t metric = metric_t::ip;
    std::size_t dimensions = 0;
    mutable context_pool_t contexts;
    mutable scratch_pool_t scratch;
    // 2 MiB regions of stored vectors already backed by huge pages (see use_huge_pages; f16 and i8).
    std::set<std::uintptr_t> huge_regions;
    // The stored vectors of an f32 index (see slab_t); f16 and i8 vectors stay in usearch's storage.
    slab_t slab;
};

// The graph inside usearch's dense index, which f32 searches walk themselves (see graph_walk). The
// member is private, so it is reached through the explicit-instantiation rule (access checks do not
// apply to template arguments of an explicit instantiation); usearch is pinned, and the static types
// below fail to compile if its layout changes.
using graph_t = index_gt<distance_punned_t, dense_t::vector_key_t, dense_t::compressed_slot_t,
                         dense_t::dynamic_allocator_t, dense_t::tape_allocator_t>;
// One template serves every private member reached this way: each tag names a member's type and
// declares `member_of(tag)`, which the explicit instantiation below the tag defines.
template <typename tag_at, typename tag_at::type member_at> struct expose_t {
    friend typename tag_at::type member_of(tag_at) { return member_at; }
};
struct graph_member_tag {
    using type = graph_t* dense_t::*;
    friend type member_of(graph_member_tag);
};
template struct expose_t<graph_member_tag, &dense_t::typed_>;
static graph_t const& graph_of(dense_t const& index) { return *(index.*member_of(graph_member_tag{})); }

// usearch's table of vector pointers (one per slot) and its own vector storage, reached the same way:
// f32 vectors live in our slab, and the table points into it.
using vectors_lookup_t = buffer_gt<byte_t*, aligned_allocator_gt<byte_t*, 64>>;
using vectors_tape_t = memory_mapping_allocator_gt<8>;
struct lookup_member_tag {
    using type = vectors_lookup_t dense_t::*;
    friend type member_of(lookup_member_tag);
};
struct tape_member_tag {
    using type = vectors_tape_t dense_t::*;
    friend type member_of(tape_member_tag);
};
template struct expose_t<lookup_member_tag, &dense_t::vectors_lookup_>;
template struct expose_t<tape_member_tag, &dense_t::vectors_tape_allocator_>;

// Points usearch's vector table at the slab's rows for slots [from, to).
static void point_into_slab(state_t& state, std::size_t from, std::size_t to) noexcept {
    auto& lookup = state.index.*member_of(lookup_member_tag{});
    for (std::size_t slot = from; slot < to; ++slot)
        lookup[slot] = reinterpret_cast<byte_t*>(state.slab.row(slot));
}

// Makes room in the slab for `rows` slots; if the rows moved, the vector table follows them.
static void reserve_slab(state_t& state, std::size_t rows) {
    if (state.slab.reserve(rows))
        point_into_slab(state, 0, state.slab.used_rows());
}

// ---------------------------------------------------------------------------------------------------
// Distance kernels for f32 graphs. usearch's bundled NumKong kernels accumulate f32 dot products in
// f64 (measured here: ~70 ns per 512-d pair even in cache), so f32 graphs use these instead, chosen
// once at load time by CPU feature. f16 and i8 graphs use usearch's own (auto-vectorised) kernels.

using distance_fn = float (*)(std::size_t, std::size_t, std::size_t);

static float dot_generic(float const* a, float const* b, std::size_t n) noexcept {
    float s[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j != 8; ++j)
            s[j] += a[i + j] * b[i + j];
    float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i != n; ++i)
        total += a[i] * b[i];
    return total;
}
static float l2sq_generic(float const* a, float const* b, std::size_t n) noexcept {
    float s[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j != 8; ++j) {
            float d = a[i + j] - b[i + j];
            s[j] += d * d;
        }
    float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i != n; ++i)
        total += (a[i] - b[i]) * (a[i] - b[i]);
    return total;
}

#if defined(SVI_X86)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers seed some intrinsics with deliberately undefined registers and then warn about them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
// _mm512_reduce_add_ps trips a false -Wuninitialized in GCC 12; this is the same reduction.
__attribute__((target("avx512f"))) static float hsum_avx512(__m512 v) noexcept {
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));
    __m128 x = _mm512_castps512_ps128(v);
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}
__attribute__((target("avx512f"))) static float dot_avx512(float const* a, float const* b, std::size_t n) noexcept {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return hsum_avx512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
__attribute__((target("avx512f"))) static float l2sq_avx512(float const* a, float const* b, std::size_t n) noexcept {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0), s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2), s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
    }
    if (i < n) {
        __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        __m512 d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d0, d0, s1);
    }
    return hsum_avx512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
__attribute__((target("avx2,fma"))) static float hsum_avx2(__m256 v) noexcept {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
__attribute__((target("avx2,fma"))) static float dot_avx2(float const* a, float const* b, std::size_t n) noexcept {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float total = hsum_avx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i != n; ++i)
        total += a[i] * b[i];
    return total;
}
__attribute__((target("avx2,fma"))) static float l2sq_avx2(float const* a, float const* b, std::size_t n) noexcept {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0), s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2), s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
    }
    float total = hsum_avx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i != n; ++i)
        total += (a[i] - b[i]) * (a[i] - b[i]);
    return total;
}

// Four vectors against one query at once: four independent memory streams keep more loads in flight,
// which is what a graph walk over vectors that are not in cache is bound by.
__attribute__((target("avx512f"))) static void dot4_avx512(float const* q, float const* const* v, std::size_t n,
                                                           float* out) noexcept {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(q + i);
        s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v[0] + i), s0);
        s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v[1] + i), s1);
        s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v[2] + i), s2);
        s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v[3] + i), s3);
    }
    if (i < n) {
        __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        __m512 x = _mm512_maskz_loadu_ps(m, q + i);
        s0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, v[0] + i), s0);
        s1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, v[1] + i), s1);
        s2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, v[2] + i), s2);
        s3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, v[3] + i), s3);
    }
    out[0] = hsum_avx512(s0), out[1] = hsum_avx512(s1), out[2] = hsum_avx512(s2), out[3] = hsum_avx512(s3);
}
__attribute__((target("avx512f"))) static void l2sq4_avx512(float const* q, float const* const* v, std::size_t n,
                                                            float* out) noexcept {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(q + i);
        __m512 d0 = _mm512_sub_ps(x, _mm512_loadu_ps(v[0] + i)), d1 = _mm512_sub_ps(x, _mm512_loadu_ps(v[1] + i));
        __m512 d2 = _mm512_sub_ps(x, _mm512_loadu_ps(v[2] + i)), d3 = _mm512_sub_ps(x, _mm512_loadu_ps(v[3] + i));
        s0 = _mm512_fmadd_ps(d0, d0, s0), s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2), s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    if (i < n) {
        __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        __m512 x = _mm512_maskz_loadu_ps(m, q + i);
        __m512 d0 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, v[0] + i)), d1 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, v[1] + i));
        __m512 d2 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, v[2] + i)), d3 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, v[3] + i));
        s0 = _mm512_fmadd_ps(d0, d0, s0), s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2), s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    out[0] = hsum_avx512(s0), out[1] = hsum_avx512(s1), out[2] = hsum_avx512(s2), out[3] = hsum_avx512(s3);
}
__attribute__((target("avx2,fma"))) static void dot4_avx2(float const* q, float const* const* v, std::size_t n,
                                                          float* out) noexcept {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(q + i);
        s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v[0] + i), s0);
        s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v[1] + i), s1);
        s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v[2] + i), s2);
        s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v[3] + i), s3);
    }
    out[0] = hsum_avx2(s0), out[1] = hsum_avx2(s1), out[2] = hsum_avx2(s2), out[3] = hsum_avx2(s3);
    for (; i != n; ++i)
        for (int j = 0; j != 4; ++j)
            out[j] += q[i] * v[j][i];
}
__attribute__((target("avx2,fma"))) static void l2sq4_avx2(float const* q, float const* const* v, std::size_t n,
                                                           float* out) noexcept {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(q + i);
        __m256 d0 = _mm256_sub_ps(x, _mm256_loadu_ps(v[0] + i)), d1 = _mm256_sub_ps(x, _mm256_loadu_ps(v[1] + i));
        __m256 d2 = _mm256_sub_ps(x, _mm256_loadu_ps(v[2] + i)), d3 = _mm256_sub_ps(x, _mm256_loadu_ps(v[3] + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0), s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2), s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    out[0] = hsum_avx2(s0), out[1] = hsum_avx2(s1), out[2] = hsum_avx2(s2), out[3] = hsum_avx2(s3);
    for (; i != n; ++i)
        for (int j = 0; j != 4; ++j)
            out[j] += (q[i] - v[j][i]) * (q[i] - v[j][i]);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

enum class simd_t { generic, avx2, avx512 };

static simd_t detect_simd() noexcept {
#if defined(SVI_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return simd_t::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return simd_t::avx2;
#endif
    return simd_t::generic;
}

static simd_t const simd = detect_simd();

static void dot4_generic(float const* q, float const* const* v, std::size_t n, float* out) noexcept {
    for (int j = 0; j != 4; ++j)
        out[j] = dot_generic(q, v[j], n);
}
static void l2sq4_generic(float const* q, float const* const* v, std::size_t n, float* out) noexcept {
    for (int j = 0; j != 4; ++j)
        out[j] = l2sq_generic(q, v[j], n);
}

// The f32 kernels of this CPU, for code that calls them directly rather than through usearch's metric.
struct f32_kernels_t {
    float (*dot)(float const*, float const*, std::size_t) noexcept;
    float (*l2sq)(float const*, float const*, std::size_t) noexcept;
    void (*dot4)(float const*, float const* const*, std::size_t, float*) noexcept;
    void (*l2sq4)(float const*, float const* const*, std::size_t, float*) noexcept;
};

static f32_kernels_t pick_f32_kernels() noexcept {
    switch (simd) {
#if defined(SVI_X86)
    case simd_t::avx512: return {dot_avx512, l2sq_avx512, dot4_avx512, l2sq4_avx512};
    case simd_t::avx2: return {dot_avx2, l2sq_avx2, dot4_avx2, l2sq4_avx2};
#endif
    default: return {dot_generic, l2sq_generic, dot4_generic, l2sq4_generic};
    }
}

static f32_kernels_t const kernels = pick_f32_kernels();

template <float (*dot)(float const*, float const*, std::size_t) noexcept>
static float ip_distance(std::size_t a, std::size_t b, std::size_t n) {
    return 1.f - dot(reinterpret_cast<float const*>(a), reinterpret_cast<float const*>(b), n);
}
template <float (*l2)(float const*, float const*, std::size_t) noexcept>
static float l2_distance(std::size_t a, std::size_t b, std::size_t n) {
    return l2(reinterpret_cast<float const*>(a), reinterpret_cast<float const*>(b), n);
}

static distance_fn f32_distance(metric_t metric) noexcept {
    switch (simd) {
#if defined(SVI_X86)
    case simd_t::avx512: return metric == metric_t::ip ? &ip_distance<dot_avx512> : &l2_distance<l2sq_avx512>;
    case simd_t::avx2: return metric == metric_t::ip ? &ip_distance<dot_avx2> : &l2_distance<l2sq_avx2>;
#endif
    default: return metric == metric_t::ip ? &ip_distance<dot_generic> : &l2_distance<l2sq_generic>;
    }
}

static char const* simd_name() noexcept {
    switch (simd) {
    case simd_t::avx512: return "avx512f";
    case simd_t::avx2: return "avx2+fma";
    default: return "generic";
    }
}

// The graph's metric: our kernels for f32; usearch's for f16, and cosine for i8 (usearch scales i8
// by 127, so only a normalising metric gives scores on the same scale as f32).
static metric_punned_t graph_metric(std::size_t dimensions, metric_t metric, scalar_kind_t scalar) {
    metric_kind_t kind = metric == metric_t::ip ? metric_kind_t::ip_k : metric_kind_t::l2sq_k;
    if (scalar == scalar_kind_t::f32_k)
        return metric_punned_t::stateless(dimensions, reinterpret_cast<std::uintptr_t>(f32_distance(metric)),
                                          metric_punned_signature_t::array_array_size_k, kind, scalar);
    if (scalar == scalar_kind_t::i8_k && metric == metric_t::ip)
        kind = metric_kind_t::cos_k;
    return metric_punned_t::builtin(dimensions, kind, scalar);
}

// ---------------------------------------------------------------------------------------------------
// Exact search: C = Q * B^T the way a BLAS sgemm computes it (BLIS's loops), with the top-k selection
// fused into the micro-kernel's epilogue instead of a scores matrix.
//
// Per thread: its queries are packed once into MR-row panels (ap[k * MR + r]); the stored vectors are
// gathered a chunk at a time (about 1 MiB, so a chunk stays in L2) into NR-column panels
// (bp[k * NR + j]); then every MR-query panel (in L1, it is reused across the chunk) sweeps the
// chunk's panels with a register-tiled MR x NR micro-kernel over all d. The kernel leaves the tile's
// scores and a bit per query row that has some score at or above that query's current top-k
// threshold; only those rows are looked at, so once the heaps have filled up almost no tile costs more
// than its FMAs. Kernels, picked at run time from the CPU's features:
//   avx512f   12 x 32: 24 zmm accumulators, 2 panel loads and 12 broadcast FMAs per k
//   avx2+fma   6 x 16: 12 ymm accumulators (the BLIS Haswell shape)
//   generic    6 x 16: plain C++ (what the compiler makes of it)
// Queries padded to a multiple of MR are zeros and get a threshold of +inf; columns past the last
// stored vector of a chunk are zeros and never read back.

constexpr std::size_t CHUNK_BYTES = 1 << 20; // packed stored vectors per chunk (per thread)

// One MR x NR tile over all d. With qn and bn (l2 only) the tile becomes -(qn[r] + bn[j] - 2 c[r][j]).
// Returns bit r set when row r has a score >= thr[r].
using tile_fn = std::uint32_t (*)(float const* ap, float const* bp, std::size_t d, float const* qn,
                                  float const* bn, float const* thr, float* c);

struct exact_isa_t {
    char const* name;
    std::size_t mr, nr;
    tile_fn tile;
};

template <std::size_t MR, std::size_t NR>
static std::uint32_t tile_generic(float const* ap, float const* bp, std::size_t d, float const* qn, float const* bn,
                                  float const* thr, float* c) {
    float acc[MR][NR] = {};
    for (std::size_t k = 0; k != d; ++k) {
        float const* a = ap + k * MR;
        float const* b = bp + k * NR;
        for (std::size_t r = 0; r != MR; ++r)
            for (std::size_t j = 0; j != NR; ++j)
                acc[r][j] += a[r] * b[j];
    }
    std::uint32_t mask = 0;
    for (std::size_t r = 0; r != MR; ++r)
        for (std::size_t j = 0; j != NR; ++j) {
            float s = acc[r][j];
            if (qn)
                s = -(qn[r] + bn[j] - 2 * s);
            c[r * NR + j] = s;
            if (s >= thr[r])
                mask |= 1u << r;
        }
    return mask;
}

#if defined(SVI_X86)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
__attribute__((target("avx512f"))) static std::uint32_t tile_avx512(float const* ap, float const* bp, std::size_t d,
                                                                    float const* qn, float const* bn,
                                                                    float const* thr, float* c) {
    constexpr std::size_t MR = 12, NR = 32;
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (std::size_t r = 0; r != MR; ++r)
        acc[r][0] = _mm512_setzero_ps(), acc[r][1] = _mm512_setzero_ps();
    for (std::size_t k = 0; k != d; ++k, ap += MR, bp += NR) {
        __m512 b0 = _mm512_load_ps(bp);
        __m512 b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (std::size_t r = 0; r != MR; ++r) {
            __m512 a = _mm512_set1_ps(ap[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    std::uint32_t mask = 0;
    __m512i const sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
#pragma GCC unroll 12
    for (std::size_t r = 0; r != MR; ++r) {
        __m512 s0 = acc[r][0], s1 = acc[r][1];
        if (qn) {
            __m512 q = _mm512_set1_ps(qn[r]);
            __m512 t0 = _mm512_sub_ps(_mm512_add_ps(q, _mm512_loadu_ps(bn)), _mm512_add_ps(s0, s0));
            __m512 t1 = _mm512_sub_ps(_mm512_add_ps(q, _mm512_loadu_ps(bn + 16)), _mm512_add_ps(s1, s1));
            s0 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(t0), sign));
            s1 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(t1), sign));
        }
        _mm512_storeu_ps(c + r * NR, s0);
        _mm512_storeu_ps(c + r * NR + 16, s1);
        __m512 t = _mm512_set1_ps(thr[r]);
        if (_mm512_cmp_ps_mask(s0, t, _CMP_GE_OQ) | _mm512_cmp_ps_mask(s1, t, _CMP_GE_OQ))
            mask |= 1u << r;
    }
    return mask;
}

__attribute__((target("avx2,fma"))) static std::uint32_t tile_avx2(float const* ap, float const* bp, std::size_t d,
                                                                   float const* qn, float const* bn,
                                                                   float const* thr, float* c) {
    constexpr std::size_t MR = 6, NR = 16;
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (std::size_t r = 0; r != MR; ++r)
        acc[r][0] = _mm256_setzero_ps(), acc[r][1] = _mm256_setzero_ps();
    for (std::size_t k = 0; k != d; ++k, ap += MR, bp += NR) {
        __m256 b0 = _mm256_load_ps(bp);
        __m256 b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (std::size_t r = 0; r != MR; ++r) {
            __m256 a = _mm256_broadcast_ss(ap + r);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    std::uint32_t mask = 0;
    __m256 const sign = _mm256_set1_ps(-0.f);
#pragma GCC unroll 6
    for (std::size_t r = 0; r != MR; ++r) {
        __m256 s0 = acc[r][0], s1 = acc[r][1];
        if (qn) {
            __m256 q = _mm256_set1_ps(qn[r]);
            s0 = _mm256_xor_ps(_mm256_sub_ps(_mm256_add_ps(q, _mm256_loadu_ps(bn)), _mm256_add_ps(s0, s0)), sign);
            s1 = _mm256_xor_ps(_mm256_sub_ps(_mm256_add_ps(q, _mm256_loadu_ps(bn + 8)), _mm256_add_ps(s1, s1)), sign);
        }
        _mm256_storeu_ps(c + r * NR, s0);
        _mm256_storeu_ps(c + r * NR + 8, s1);
        __m256 t = _mm256_set1_ps(thr[r]);
        if (_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(s0, t, _CMP_GE_OQ), _mm256_cmp_ps(s1, t, _CMP_GE_OQ))))
            mask |= 1u << r;
    }
    return mask;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// The exact kernels this CPU can run, best first.
static std::vector<exact_isa_t> exact_isas() {
    std::vector<exact_isa_t> out;
#if defined(SVI_X86)
    if (simd == simd_t::avx512)
        out.push_back({"avx512f", 12, 32, tile_avx512});
    if (simd != simd_t::generic)
        out.push_back({"avx2+fma", 6, 16, tile_avx2});
#endif
    out.push_back({"generic", 6, 16, tile_generic<6, 16>});
    return out;
}

static std::vector<exact_isa_t> const exact_kernels = exact_isas();

template <typename T> struct aligned_buffer_t {
    T* data = nullptr;
    explicit aligned_buffer_t(std::size_t count) {
        std::size_t bytes = ((count * sizeof(T) + 63) / 64) * 64;
        data = static_cast<T*>(std::aligned_alloc(64, bytes ? bytes : 64));
        if (!data)
            throw std::bad_alloc();
        std::memset(data, 0, bytes);
    }
    ~aligned_buffer_t() { std::free(data); }
    aligned_buffer_t(aligned_buffer_t const&) = delete;
    aligned_buffer_t& operator=(aligned_buffer_t const&) = delete;
};

struct exact_request_t {
    std::vector<float> queries; // nq x d
    std::size_t nq = 0;
    std::size_t capacity = 0; // results kept per query
    float floor = -std::numeric_limits<float>::infinity();
    filter_t filter;
    std::size_t threads = 1;
    exact_isa_t isa = exact_kernels.front();
};

// rows x d queries into MR-row panels: out[g * MR * d + k * MR + r] = q[(g * MR + r) * d + k], zero-padded.
template <std::size_t MR>
static void pack_queries(float const* q, std::size_t rows, std::size_t d, float* out) {
    std::size_t const groups = (rows + MR - 1) / MR;
    for (std::size_t g = 0; g != groups; ++g) {
        float* dst = out + g * MR * d;
        for (std::size_t r = 0; r != MR; ++r) {
            std::size_t const row = g * MR + r;
            if (row < rows) {
                float const* src = q + row * d;
                for (std::size_t k = 0; k != d; ++k)
                    dst[k * MR + r] = src[k];
            } else {
                for (std::size_t k = 0; k != d; ++k)
                    dst[k * MR + r] = 0;
            }
        }
    }
}

// m <= NR vectors into one NR-column panel: out[k * NR + j] = v[j][k]; columns m..NR-1 zero.
template <std::size_t NR>
static void pack_panel(float const* const* v, std::size_t m, std::size_t d, float* out) {
    if (m == NR) {
        for (std::size_t k = 0; k != d; ++k)
            for (std::size_t j = 0; j != NR; ++j)
                out[k * NR + j] = v[j][k];
        return;
    }
    for (std::size_t k = 0; k != d; ++k)
        for (std::size_t j = 0; j != NR; ++j)
            out[k * NR + j] = j < m ? v[j][k] : 0.f;
}

// Scores of every (query, stored vector) pair, keeping the best `capacity` with score >= floor per
// query; equal scores are ranked by ascending key, so the result does not depend on the order of the
// scan, the thread split or the kernel (up to the rounding of the scores themselves).
template <std::size_t MR, std::size_t NR>
static std::vector<top_t> exact_search_tiled(state_t const& state, exact_request_t const& req, tile_fn tile) {
    dense_t const& index = state.index;
    std::size_t const d = state.dimensions;
    std::size_t const nq = req.nq;
    std::size_t const slots = get_slot(index.cend());
    bool const f32_storage = index.scalar_kind() == scalar_kind_t::f32_k;
    key_type const free_key = index.free_key();
    bool const l2 = state.metric == metric_t::l2sq;
    std::size_t const chunk = std::max<std::size_t>(NR, CHUNK_BYTES / (d * sizeof(float)) / NR * NR);

    // Few queries: split the stored vectors between threads. Many: split the queries.
    std::size_t threads = std::max<std::size_t>(1, req.threads);
    bool split_queries = nq >= threads * MR * 4;
    struct part_t {
        std::size_t q_begin, q_end, s_begin, s_end;
        std::vector<top_t> tops;
    };
    std::vector<part_t> parts(threads);
    for (std::size_t t = 0; t != threads; ++t) {
        part_t& p = parts[t];
        if (split_queries) {
            p.q_begin = nq * t / threads, p.q_end = nq * (t + 1) / threads;
            p.s_begin = 0, p.s_end = slots;
        } else {
            p.q_begin = 0, p.q_end = nq;
            p.s_begin = slots * t / threads, p.s_end = slots * (t + 1) / threads;
        }
        p.tops.assign(p.q_end - p.q_begin, top_t(req.capacity, req.floor));
    }

    auto run_part = [&](part_t& p) {
        std::size_t const pq = p.q_end - p.q_begin;
        if (!pq || p.s_begin >= p.s_end)
            return;
        std::size_t const groups = (pq + MR - 1) / MR;
        aligned_buffer_t<float> a(groups * MR * d);
        pack_queries<MR>(req.queries.data() + p.q_begin * d, pq, d, a.data);
        aligned_buffer_t<float> qn(groups * MR);
        if (l2)
            for (std::size_t q = 0; q != pq; ++q)
                qn.data[q] = kernels.dot(req.queries.data() + (p.q_begin + q) * d, req.queries.data() + (p.q_begin + q) * d, d);
        aligned_buffer_t<float> packed(chunk * d);
        aligned_buffer_t<float> norms(chunk);
        std::vector<std::uint64_t> keys(chunk);
        std::vector<float> decoded(f32_storage ? 0 : NR * d);
        float const* src[NR];
        dense_t::values_proxy_t values(index);
        alignas(64) float scores[MR * NR];
        float thr[MR];

        std::size_t slot = p.s_begin;
        while (slot < p.s_end) {
            // Gather up to `chunk` live, allowed vectors into NR-column panels.
            std::size_t n = 0;
            while (n < chunk && slot < p.s_end) {
                std::size_t m = 0;
                for (; slot < p.s_end && m < NR; ++slot) {
                    auto it = index.cbegin() + static_cast<std::ptrdiff_t>(slot);
                    key_type key = get_key(it);
                    if (key == free_key || !req.filter.allows(key))
                        continue;
                    if (f32_storage)
                        src[m] = reinterpret_cast<float const*>(values[it]);
                    else {
                        index.get(key, decoded.data() + m * d);
                        src[m] = decoded.data() + m * d;
                    }
                    keys[n + m] = key;
                    norms.data[n + m] = l2 ? kernels.dot(src[m], src[m], d) : 0.f;
                    ++m;
                }
                if (!m)
                    break;
                for (std::size_t j = m; j != NR; ++j)
                    norms.data[n + j] = 0.f;
                pack_panel<NR>(src, m, d, packed.data + n * d);
                n += m; // only the last panel of the part can be partial
            }
            if (!n)
                break;
            std::size_t const panels = (n + NR - 1) / NR;

            for (std::size_t g = 0; g != groups; ++g) {
                std::size_t const q0 = g * MR;
                std::size_t const rows = std::min(MR, pq - q0);
                float const* ap = a.data + q0 * d;
                for (std::size_t pn = 0; pn != panels; ++pn) {
                    std::size_t const c0 = pn * NR;
                    std::size_t const cols = std::min(NR, n - c0);
                    for (std::size_t r = 0; r != MR; ++r)
                        thr[r] = r < rows ? p.tops[q0 + r].threshold() : std::numeric_limits<float>::infinity();
                    std::uint32_t mask = tile(ap, packed.data + c0 * d, d, l2 ? qn.data + q0 : nullptr,
                                              l2 ? norms.data + c0 : nullptr, thr, scores);
                    while (mask) {
                        std::size_t const r = static_cast<std::size_t>(__builtin_ctz(mask));
                        mask &= mask - 1;
                        top_t& top = p.tops[q0 + r];
                        float const* row = scores + r * NR;
                        for (std::size_t j = 0; j != cols; ++j)
                            if (row[j] >= thr[r] && top.admits(row[j], keys[c0 + j]))
                                top.push(row[j], keys[c0 + j]);
                    }
                }
            }
        }
    };

    {
        std::vector<std::thread> pool;
        std::vector<std::exception_ptr> errors(threads);
        for (std::size_t t = 1; t < threads; ++t)
            pool.emplace_back([&, t] {
                try {
                    run_part(parts[t]);
                } catch (...) {
                    errors[t] = std::current_exception();
                }
            });
        try {
            run_part(parts[0]);
        } catch (...) {
            errors[0] = std::current_exception();
        }
        for (auto& th : pool)
            th.join();
        for (auto& e : errors)
            if (e)
                std::rethrow_exception(e);
    }

    std::vector<top_t> merged(nq, top_t(req.capacity, req.floor));
    for (auto& p : parts)
        for (std::size_t i = 0; i != p.tops.size(); ++i)
            merged[p.q_begin + i].merge(p.tops[i]);
    return merged;
}

static std::vector<top_t> exact_search(state_t const& state, exact_request_t const& req) {
    if (req.isa.mr == 12 && req.isa.nr == 32)
        return exact_search_tiled<12, 32>(state, req, req.isa.tile);
    return exact_search_tiled<6, 16>(state, req, req.isa.tile);
}

// ---------------------------------------------------------------------------------------------------
// Self-similarity scan of one set of vectors (SemDeDup's per-cluster step; @select/curation-filters
// calls it through selfSimilarity): the strict lower triangle of S = X Xᵀ, X the set's rows in the
// caller's order (optionally L2-normalised on the way in), on the exact search's micro-kernels, with the
// reductions fused into the tile epilogue instead of a materialised S:
//   - per position j, its best earlier position: max over i < j of S[i][j], the lowest i on ties
//     (-inf / -1 at position 0): SemDeDup's `triu(S, 1).max(0)`;
//   - optionally every pair i < j with S[i][j] > threshold, sorted by (i, j).
// Decisions against the threshold are exact: float32 sums of d products can be off by up to about
// d * 2^-24 (times the norms), so any score within twice that bound of the threshold is recomputed in
// float64 from the caller's rows (a column's best over all its earlier rows, a pair by itself); scores
// come back as doubles, those near the threshold exact, the rest the float32 kernel's.
// Only tiles holding some i < j are computed (about half of the product). The set is packed once (rows
// into MR-row panels, columns into NR-column panels, scaled by 1 / norm when normalising); the column
// panels are cut into units of a few panels that threads take from a shared counter, the costliest
// (rightmost) first. A column belongs to one unit, its running maximum sees the rows in ascending order
// and every score is the same FMA chain over k, so the result does not depend on `threads`.

struct self_scan_request_t {
    float const* vectors = nullptr; // the caller's rows x d floats (kept alive by the task)
    std::size_t rows = 0, d = 0;
    std::vector<std::int32_t> order; // position -> row of `vectors`
    bool normalize = false;
    bool has_threshold = false; // refine scores near it
    bool want_pairs = false;    // list the pairs above it
    double threshold = 0;
    std::size_t threads = 1;
    exact_isa_t isa = exact_kernels.front();
};

struct self_scan_result_t {
    std::vector<double> best;
    std::vector<std::int32_t> best_at;
    std::vector<std::int32_t> pairs; // i0, j0, i1, j1, ... (positions)
    std::vector<double> pair_scores;
    std::size_t refined = 0; // scores recomputed in float64
    std::int64_t invalid_row = -1; // normalising only: the first row (in position order) that is zero or not finite
};

// Running column maxima over one tile whose valid rows all come before all its columns.
template <std::size_t NR>
static void column_max_generic(float const* c, std::size_t rows, std::int32_t i0, float* best, std::int32_t* at) {
    for (std::size_t r = 0; r != rows; ++r)
        for (std::size_t j = 0; j != NR; ++j)
            if (c[r * NR + j] > best[j])
                best[j] = c[r * NR + j], at[j] = i0 + static_cast<std::int32_t>(r);
}

#if defined(SVI_X86)
__attribute__((target("avx512f"))) static void column_max_avx512(float const* c, std::size_t rows, std::int32_t i0,
                                                                 float* best, std::int32_t* at) {
    __m512 b0 = _mm512_loadu_ps(best), b1 = _mm512_loadu_ps(best + 16);
    __m512i a0 = _mm512_loadu_si512(at), a1 = _mm512_loadu_si512(at + 16);
    for (std::size_t r = 0; r != rows; ++r) {
        __m512 s0 = _mm512_loadu_ps(c + r * 32), s1 = _mm512_loadu_ps(c + r * 32 + 16);
        __m512i i = _mm512_set1_epi32(i0 + static_cast<std::int32_t>(r));
        __mmask16 m0 = _mm512_cmp_ps_mask(s0, b0, _CMP_GT_OQ), m1 = _mm512_cmp_ps_mask(s1, b1, _CMP_GT_OQ);
        b0 = _mm512_mask_mov_ps(b0, m0, s0), b1 = _mm512_mask_mov_ps(b1, m1, s1);
        a0 = _mm512_mask_mov_epi32(a0, m0, i), a1 = _mm512_mask_mov_epi32(a1, m1, i);
    }
    _mm512_storeu_ps(best, b0), _mm512_storeu_ps(best + 16, b1);
    _mm512_storeu_si512(at, a0), _mm512_storeu_si512(at + 16, a1);
}
#endif

// Runs fn(t) on `threads` threads (the calling one included) and rethrows the first error.
template <typename F> static void on_threads(std::size_t threads, F const& fn) {
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(threads);
    for (std::size_t t = 1; t < threads; ++t)
        pool.emplace_back([&, t] {
            try {
                fn(t);
            } catch (...) {
                errors[t] = std::current_exception();
            }
        });
    try {
        fn(0);
    } catch (...) {
        errors[0] = std::current_exception();
    }
    for (auto& th : pool)
        th.join();
    for (auto& e : errors)
        if (e)
            std::rethrow_exception(e);
}

template <std::size_t MR, std::size_t NR>
static void self_scan_tiled(self_scan_request_t const& req, self_scan_result_t& out) {
    std::size_t const n = req.order.size(), d = req.d;
    float const inf = std::numeric_limits<float>::infinity();
    out.best.assign(n, -static_cast<double>(inf));
    out.best_at.assign(n, -1);
    if (n == 0)
        return;
    std::size_t const groups = (n + MR - 1) / MR, panels = (n + NR - 1) / NR;
    std::size_t const threads = n < 256 ? 1 : req.threads;
    // The set's rows (scaled to unit length when normalising) straight into the panels, in one parallel pass
    // with no barrier: a row is read once for its row panel and once for its column panel, and its squared
    // norm summed both times the same way (in double, eight interleaved partial sums: exact products, so only
    // the order of additions differs from a plain loop), so both copies hold the same floats.
    std::vector<double> q(n, 1.0);
    aligned_buffer_t<float> a(groups * MR * d), b(panels * NR * d); // zero-filled: padding rows/columns stay 0
    auto norm2 = [&](float const* x) {
        double part[8] = {};
        std::size_t k = 0;
        for (; k + 8 <= d; k += 8)
            for (std::size_t l = 0; l != 8; ++l)
                part[l] += static_cast<double>(x[k + l]) * static_cast<double>(x[k + l]);
        for (; k != d; ++k)
            part[k % 8] += static_cast<double>(x[k]) * static_cast<double>(x[k]);
        return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    };
    // row p into a panel of `width` (MR or NR) interleaved rows at slot `slot`: dst[k * width + slot]
    auto put = [&](std::size_t p, float* dst, std::size_t width, std::size_t slot, bool keep_q) {
        float const* src = req.vectors + static_cast<std::size_t>(req.order[p]) * d;
        if (!req.normalize) {
            if (keep_q)
                q[p] = norm2(src);
            for (std::size_t k = 0; k != d; ++k)
                dst[k * width + slot] = src[k];
            return;
        }
        double const sum = norm2(src);
        if (keep_q)
            q[p] = sum;
        double const scale = 1.0 / std::sqrt(sum);
        for (std::size_t k = 0; k != d; ++k)
            dst[k * width + slot] = static_cast<float>(static_cast<double>(src[k]) * scale);
    };
    on_threads(threads, [&](std::size_t t) {
        for (std::size_t g = groups * t / threads; g != groups * (t + 1) / threads; ++g)
            for (std::size_t r = 0; r != MR && g * MR + r < n; ++r)
                put(g * MR + r, a.data + g * MR * d, MR, r, false);
        for (std::size_t pn = panels * t / threads; pn != panels * (t + 1) / threads; ++pn)
            for (std::size_t j = 0; j != NR && pn * NR + j < n; ++j)
                put(pn * NR + j, b.data + pn * NR * d, NR, j, true);
    });
    for (std::size_t p = 0; req.normalize && p != n; ++p)
        if (!(q[p] > 0 && std::isfinite(q[p]))) {
            out.invalid_row = req.order[p];
            return;
        }
    if (n < 2)
        return;

    // column units: at most ~1 MiB of packed columns, and at least 4 units per thread where the set allows
    std::size_t const max_unit = std::max<std::size_t>(1, CHUNK_BYTES / (NR * d * sizeof(float)));
    std::size_t const unit = std::max<std::size_t>(1, std::min(max_unit, (panels + threads * 4 - 1) / (threads * 4)));
    std::size_t const units = (panels + unit - 1) / unit;
    std::vector<float> best(panels * NR, -inf);
    std::vector<std::int32_t> best_at(panels * NR, -1);
    std::vector<std::vector<std::pair<std::pair<std::int32_t, std::int32_t>, double>>> found(threads);
    std::vector<std::size_t> refined(threads);
    // |float32 score - exact| <= about d * 2^-24 * |x_i| |x_j| (recursive summation of d products, plus the
    // rounding of the normalised rows); scores within twice that of the threshold are recomputed
    double const bound = 2.0 * static_cast<double>(d + 2) * std::ldexp(1.0, -24);
    double qmax = 1;
    if (!req.normalize)
        qmax = *std::max_element(q.begin(), q.end());
    auto delta = [&](std::size_t i, std::size_t j) { return req.normalize ? bound : bound * std::sqrt(q[i] * q[j]); };
    auto exact = [&](std::size_t i, std::size_t j) {
        float const* x = req.vectors + static_cast<std::size_t>(req.order[i]) * d;
        float const* y = req.vectors + static_cast<std::size_t>(req.order[j]) * d;
        double part[8] = {};
        std::size_t k = 0;
        for (; k + 8 <= d; k += 8)
            for (std::size_t l = 0; l != 8; ++l)
                part[l] += static_cast<double>(x[k + l]) * static_cast<double>(y[k + l]);
        for (; k != d; ++k)
            part[k % 8] += static_cast<double>(x[k]) * static_cast<double>(y[k]);
        double const sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        return req.normalize ? sum / std::sqrt(q[i] * q[j]) : sum;
    };
    // the tile flags rows with some score >= this: every pair that might be above the threshold
    float pair_thr = inf;
    if (req.want_pairs) {
        double const low = req.threshold - bound * qmax;
        pair_thr = static_cast<float>(low);
        if (static_cast<double>(pair_thr) > low)
            pair_thr = std::nextafter(pair_thr, -inf);
    }
    std::atomic<std::size_t> next{0};
    tile_fn const tile = req.isa.tile;
    bool const wide = NR == 32 && req.isa.mr == 12 && simd == simd_t::avx512;

    on_threads(std::min(threads, units), [&](std::size_t t) {
        alignas(64) float scores[MR * NR];
        float thr[MR];
        auto& mine = found[t];
        std::size_t& mine_refined = refined[t];
        for (std::size_t u; (u = next.fetch_add(1)) < units;) {
            std::size_t const p0 = (units - 1 - u) * unit, p1 = std::min(panels, p0 + unit);
            std::size_t const last_col = std::min(n, p1 * NR) - 1;
            for (std::size_t g = 0; g * MR < last_col; ++g) {
                std::size_t const q0 = g * MR, rows = std::min(MR, n - q0);
                for (std::size_t r = 0; r != MR; ++r)
                    thr[r] = r < rows ? pair_thr : inf;
                for (std::size_t pn = p0; pn != p1; ++pn) {
                    std::size_t const c0 = pn * NR, cols = std::min(NR, n - c0);
                    if (q0 >= c0 + cols - 1)
                        continue; // no i < j in this tile
                    std::uint32_t mask = tile(a.data + q0 * d, b.data + c0 * d, d, nullptr, nullptr, thr, scores);
                    float* bc = best.data() + c0;
                    std::int32_t* ac = best_at.data() + c0;
                    if (q0 + rows <= c0) { // every row before every column
#if defined(SVI_X86)
                        if (wide)
                            column_max_avx512(scores, rows, static_cast<std::int32_t>(q0), bc, ac);
                        else
#endif
                            column_max_generic<NR>(scores, rows, static_cast<std::int32_t>(q0), bc, ac);
                    } else {
                        for (std::size_t r = 0; r != rows; ++r)
                            for (std::size_t j = (q0 + r + 1 > c0 ? q0 + r + 1 - c0 : 0); j < cols; ++j)
                                if (scores[r * NR + j] > bc[j])
                                    bc[j] = scores[r * NR + j], ac[j] = static_cast<std::int32_t>(q0 + r);
                    }
                    while (mask) {
                        std::size_t const r = static_cast<std::size_t>(__builtin_ctz(mask));
                        mask &= mask - 1;
                        std::size_t const i = q0 + r;
                        for (std::size_t j = (i + 1 > c0 ? i + 1 - c0 : 0); j < cols; ++j) {
                            double score = scores[r * NR + j];
                            double const dl = delta(i, c0 + j);
                            if (!(score > req.threshold - dl))
                                continue;
                            if (!(score > req.threshold + dl)) {
                                score = exact(i, c0 + j), ++mine_refined;
                                if (!(score > req.threshold))
                                    continue;
                            }
                            mine.push_back({{static_cast<std::int32_t>(i), static_cast<std::int32_t>(c0 + j)}, score});
                        }
                    }
                }
            }
            // the unit's columns are done: their best earlier matches, exact near the threshold
            for (std::size_t j = p0 * NR; j <= last_col; ++j) {
                double b = best[j];
                std::int32_t at = best_at[j];
                if (req.has_threshold && j > 0) {
                    double const dl = req.normalize ? bound : bound * std::sqrt(qmax * q[j]);
                    if (b > req.threshold - dl && !(b > req.threshold + dl)) {
                        b = -static_cast<double>(inf), ++mine_refined;
                        for (std::size_t i = 0; i != j; ++i) {
                            double const e = exact(i, j);
                            if (e > b)
                                b = e, at = static_cast<std::int32_t>(i);
                        }
                    }
                }
                out.best[j] = b, out.best_at[j] = at;
            }
        }
    });
    for (std::size_t r : refined)
        out.refined += r;

    if (!req.want_pairs)
        return;
    std::vector<std::pair<std::pair<std::int32_t, std::int32_t>, double>> all;
    for (auto& f : found)
        all.insert(all.end(), f.begin(), f.end());
    std::sort(all.begin(), all.end(), [](auto const& x, auto const& y) { return x.first < y.first; });
    out.pairs.reserve(2 * all.size());
    out.pair_scores.reserve(all.size());
    for (auto const& e : all) {
        out.pairs.push_back(e.first.first);
        out.pairs.push_back(e.first.second);
        out.pair_scores.push_back(e.second);
    }
}

static void self_scan(self_scan_request_t const& req, self_scan_result_t& out) {
    if (req.isa.mr == 12 && req.isa.nr == 32)
        return self_scan_tiled<12, 32>(req, out);
    return self_scan_tiled<6, 16>(req, out);
}

// ---------------------------------------------------------------------------------------------------
// Best match per row of A among the rows of B (k-means assignment: rows against centroids; used by
// @select/curation-filters through bestMatches): C = A Bᵀ on the exact search's micro-kernels with a
// running argmax per row in the epilogue, so the rows x B scores are never stored. B is packed once into
// NR-column panels; rows of A (scaled to unit length when normalising) into MR-row panels. Threads take
// units of a few row panels from a shared counter; within a unit the packed B is swept in chunks of about
// 1 MiB (kept in L2 across the unit's row panels). A row's best sees B in index order and moves only on a
// strictly larger score, so ties keep the lowest index whatever the thread split.

struct best_match_request_t {
    float const* a = nullptr;
    float const* b = nullptr;
    std::size_t na = 0, nb = 0, d = 0;
    bool normalize = false;
    std::size_t threads = 1;
    exact_isa_t isa = exact_kernels.front();
};

struct best_match_result_t {
    std::vector<std::int32_t> index;
    std::vector<float> score; // NaN for a row that cannot be normalised (zero or not finite)
};

template <std::size_t MR, std::size_t NR>
static void best_match_tiled(best_match_request_t const& req, best_match_result_t& out) {
    std::size_t const na = req.na, nb = req.nb, d = req.d;
    float const inf = std::numeric_limits<float>::infinity();
    out.index.assign(na, 0);
    out.score.assign(na, -inf);
    if (!na || !nb)
        return;
    std::size_t const groups = (na + MR - 1) / MR, panels = (nb + NR - 1) / NR;
    std::size_t const threads = std::max<std::size_t>(1, std::min(req.threads, groups));
    aligned_buffer_t<float> a(groups * MR * d), b(panels * NR * d); // zero-filled padding
    std::vector<unsigned char> bad(na, 0);
    on_threads(threads, [&](std::size_t t) {
        for (std::size_t pn = panels * t / threads; pn != panels * (t + 1) / threads; ++pn)
            for (std::size_t j = 0; j != NR && pn * NR + j < nb; ++j) {
                float const* src = req.b + (pn * NR + j) * d;
                for (std::size_t k = 0; k != d; ++k)
                    b.data[pn * NR * d + k * NR + j] = src[k];
            }
        for (std::size_t g = groups * t / threads; g != groups * (t + 1) / threads; ++g)
            for (std::size_t r = 0; r != MR && g * MR + r < na; ++r) {
                float const* src = req.a + (g * MR + r) * d;
                float* dst = a.data + g * MR * d + r;
                if (!req.normalize) {
                    for (std::size_t k = 0; k != d; ++k)
                        dst[k * MR] = src[k];
                    continue;
                }
                double part[8] = {};
                std::size_t k = 0;
                for (; k + 8 <= d; k += 8)
                    for (std::size_t l = 0; l != 8; ++l)
                        part[l] += static_cast<double>(src[k + l]) * static_cast<double>(src[k + l]);
                for (; k != d; ++k)
                    part[k % 8] += static_cast<double>(src[k]) * static_cast<double>(src[k]);
                double const q = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
                if (!(q > 0 && std::isfinite(q))) {
                    bad[g * MR + r] = 1; // its panel row stays 0
                    continue;
                }
                double const scale = 1.0 / std::sqrt(q);
                for (k = 0; k != d; ++k)
                    dst[k * MR] = static_cast<float>(static_cast<double>(src[k]) * scale);
            }
    });

    std::size_t const chunk = std::max<std::size_t>(1, CHUNK_BYTES / (NR * d * sizeof(float)));
    std::size_t const unit = std::max<std::size_t>(1, std::min<std::size_t>(8, (groups + threads * 4 - 1) / (threads * 4)));
    std::size_t const units = (groups + unit - 1) / unit;
    std::atomic<std::size_t> next{0};
    tile_fn const tile = req.isa.tile;
    on_threads(std::min(threads, units), [&](std::size_t) {
        alignas(64) float scores[MR * NR];
        float thr[MR];
        for (std::size_t u; (u = next.fetch_add(1)) < units;) {
            std::size_t const g0 = u * unit, g1 = std::min(groups, g0 + unit);
            for (std::size_t c0 = 0; c0 < panels; c0 += chunk)
                for (std::size_t g = g0; g != g1; ++g) {
                    std::size_t const q0 = g * MR, rows = std::min(MR, na - q0);
                    float* best = out.score.data() + q0;
                    std::int32_t* at = out.index.data() + q0;
                    for (std::size_t r = 0; r != MR; ++r)
                        thr[r] = r < rows ? best[r] : inf;
                    for (std::size_t pn = c0; pn != std::min(panels, c0 + chunk); ++pn) {
                        std::size_t const cols = std::min(NR, nb - pn * NR);
                        std::uint32_t mask = tile(a.data + q0 * d, b.data + pn * NR * d, d, nullptr, nullptr, thr, scores);
                        while (mask) {
                            std::size_t const r = static_cast<std::size_t>(__builtin_ctz(mask));
                            mask &= mask - 1;
                            for (std::size_t j = 0; j != cols; ++j)
                                if (scores[r * NR + j] > best[r])
                                    best[r] = scores[r * NR + j], at[r] = static_cast<std::int32_t>(pn * NR + j);
                            thr[r] = best[r];
                        }
                    }
                }
        }
    });
    for (std::size_t i = 0; i != na; ++i)
        if (bad[i])
            out.score[i] = std::numeric_limits<float>::quiet_NaN(), out.index[i] = 0;
}

static void best_match(best_match_request_t const& req, best_match_result_t& out) {
    if (req.isa.mr == 12 && req.isa.nr == 32)
        return best_match_tiled<12, 32>(req, out);
    return best_match_tiled<6, 16>(req, out);
}

// ---------------------------------------------------------------------------------------------------
// Approximate search through the graph.

struct ann_request_t {
    std::vector<float> queries;
    std::size_t nq = 0;
    std::size_t capacity = 0; // results kept per query
    std::size_t breadth = 0;  // ef: candidates explored, >= capacity
    float floor = -std::numeric_limits<float>::infinity();
    filter_t filter;
    std::size_t threads = 1;
};

static float score_of(metric_t metric, float distance) noexcept {
    // usearch reports distances: 1 - dot for "ip", the squared distance for "l2sq".
    return metric == metric_t::ip ? 1.f - distance : -distance;
}

// One query through the graph of an f32 index. This is usearch's HNSW search, rewritten over the
// graph's public adjacency view so that it can work the way FAISS does on this memory-bound path:
// unvisited neighbours are gathered first and their distances computed four at a time (four vectors
// streaming from memory at once), with a flat generation-stamped visited table instead of a hash set.
// Measured at 1M x 512 (ef 48, 2 threads): usearch's own search 4,257 QPS, this walk 6,400 on usearch's
// vector storage, ~8,800 on the slab's aligned rows (slab_t), FAISS 6,427-7,168.

struct entry_slot_tag {
    using type = std::size_t graph_t::*;
    friend type member_of(entry_slot_tag);
};
template struct expose_t<entry_slot_tag, &graph_t::entry_slot_>;

template <bool l2>
static void graph_walk(state_t const& state, float const* query, std::size_t breadth, filter_t const& filter,
                       walk_scratch_t& scratch, std::vector<std::pair<float, std::uint64_t>>& out) {
    dense_t const& index = state.index;
    graph_t const& graph = graph_of(index);
    std::size_t const d = state.dimensions;
    std::size_t const slots = graph.size();
    out.clear();
    if (!slots)
        return;
    key_type const free_key = index.free_key();
    // Keys are looked up (another cache miss) only when something must be checked: deletions or a filter.
    bool const check_keys = filter.active || index.size() != slots;
    // f32 vectors are addressed by slot in the slab: no table read per neighbour.
    slab_t const& slab = state.slab;
    auto vector_of = [&](std::uint32_t slot) noexcept { return reinterpret_cast<float const*>(slab.row(slot)); };
    auto key_of = [&](std::uint32_t slot) noexcept {
        return static_cast<key_type>(get_key(graph.cbegin() + static_cast<std::ptrdiff_t>(slot)));
    };
    auto admitted = [&](std::uint32_t slot) noexcept {
        if (!check_keys)
            return true;
        key_type key = key_of(slot);
        return key != free_key && filter.allows(key);
    };
    // Smaller is nearer inside the walk: the negated dot product, or the squared distance.
    auto one = [&](float const* v) noexcept { return l2 ? kernels.l2sq(query, v, d) : -kernels.dot(query, v, d); };

    // Greedy descent through the upper levels.
    std::uint32_t entry = static_cast<std::uint32_t>(graph.*member_of(entry_slot_tag{}));
    float entry_distance = one(vector_of(entry));
    for (std::size_t level = graph.max_level(); level > 0; --level) {
        for (bool moved = true; moved;) {
            moved = false;
            auto view = graph.neighbors(static_cast<dense_t::compressed_slot_t>(entry), level);
            for (auto it = view.begin(); it != view.end(); ++it) {
                std::uint32_t slot = it.slot();
                float distance = one(vector_of(slot));
                if (distance < entry_distance)
                    entry = slot, entry_distance = distance, moved = true;
            }
        }
    }

    // Best-first search of the base level, keeping the `breadth` nearest admitted nodes.
    scratch.begin(slots);
    auto& candidates = scratch.candidates;
    auto& results = scratch.results;
    auto nearer_last = [](auto const& a, auto const& b) noexcept { return a.first > b.first; }; // min-heap
    auto farther_last = [](auto const& a, auto const& b) noexcept { return a.first < b.first; }; // max-heap
    scratch.visit(entry);
    candidates.emplace_back(entry_distance, entry);
    if (admitted(entry))
        results.emplace_back(entry_distance, entry);
    auto consider = [&](std::uint32_t slot, float distance) {
        if (results.size() >= breadth && distance >= results.front().first)
            return;
        candidates.emplace_back(distance, slot);
        std::push_heap(candidates.begin(), candidates.end(), nearer_last);
        if (!admitted(slot))
            return;
        results.emplace_back(distance, slot);
        std::push_heap(results.begin(), results.end(), farther_last);
        if (results.size() > breadth) {
            std::pop_heap(results.begin(), results.end(), farther_last);
            results.pop_back();
        }
    };
    auto& batch = scratch.batch;
    auto& pointers = scratch.pointers;
    while (!candidates.empty()) {
        std::pop_heap(candidates.begin(), candidates.end(), nearer_last);
        auto const [distance, slot] = candidates.back();
        candidates.pop_back();
        if (results.size() >= breadth && distance > results.front().first)
            break;
        batch.clear();
        pointers.clear();
        auto view = graph.neighbors(static_cast<dense_t::compressed_slot_t>(slot), 0);
        for (auto it = view.begin(); it != view.end(); ++it)
            if (scratch.visit(it.slot())) {
                // Every new neighbour's first line is requested as soon as it is known, so that all of
                // them are on their way at once (measured at 1M x 512, ef 44: +10% QPS).
                batch.push_back(it.slot());
                pointers.push_back(vector_of(it.slot()));
                __builtin_prefetch(pointers.back(), 0, 3);
            }
        std::size_t i = 0;
        for (; i + 4 <= batch.size(); i += 4) {
            float four[4];
            // Start the next four vectors' first lines on their way (measured best: two lines; the
            // hardware prefetcher follows the rest; whole vectors crowd out the current ones).
            for (std::size_t j = i + 4; j < std::min(batch.size(), i + 8); ++j) {
                __builtin_prefetch(reinterpret_cast<char const*>(pointers[j]), 0, 3);
                __builtin_prefetch(reinterpret_cast<char const*>(pointers[j]) + 64, 0, 3);
            }
            float const* v[4] = {pointers[i], pointers[i + 1], pointers[i + 2], pointers[i + 3]};
            if (l2)
                kernels.l2sq4(query, v, d, four);
            else
                kernels.dot4(query, v, d, four);
            for (int j = 0; j != 4; ++j)
                consider(batch[i + j], l2 ? four[j] : -four[j]);
        }
        for (; i < batch.size(); ++i)
            consider(batch[i], one(pointers[i]));
    }

    std::sort(results.begin(), results.end());
    out.reserve(results.size());
    // Scores: larger is nearer, so the walk's distances are negated back.
    for (auto const& [distance, slot] : results)
        out.emplace_back(-distance, key_of(slot));
}

static std::vector<top_t> ann_search(state_t const& state, ann_request_t const& req) {
    dense_t const& index = state.index;
    std::size_t const d = state.dimensions;
    std::size_t const wanted = std::max(req.capacity, req.breadth);
    std::vector<top_t> tops(req.nq, top_t(req.capacity, req.floor));
    std::size_t threads = std::max<std::size_t>(1, std::min(req.threads, req.nq));
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> errors(threads);
    std::vector<std::string> failures(threads);

    bool const direct = index.scalar_kind() == scalar_kind_t::f32_k;
    auto worker = [&](std::size_t t) {
        std::vector<key_type> keys(wanted);
        std::vector<float> distances(wanted);
        std::vector<std::pair<float, std::uint64_t>> walked;
        std::size_t context = direct ? state.contexts.acquire() : 0;
        try {
            walk_scratch_t* scratch = direct ? &state.scratch.get(context) : nullptr;
            for (std::size_t q = next++; q < req.nq; q = next++) {
                float const* vector = req.queries.data() + q * d;
                top_t& top = tops[q];
                if (direct) {
                    if (state.metric == metric_t::l2sq)
                        graph_walk<true>(state, vector, wanted, req.filter, *scratch, walked);
                    else
                        graph_walk<false>(state, vector, wanted, req.filter, *scratch, walked);
                    for (auto const& [score, key] : walked)
                        if (top.admits(score))
                            top.push(score, key);
                    continue;
                }
                auto predicate = [&](key_type key) noexcept { return req.filter.allows(key); };
                auto result = req.filter.active ? index.filtered_search(vector, wanted, predicate)
                                                : index.search(vector, wanted);
                if (!result) {
                    failures[t] = result.error.release();
                    break;
                }
                std::size_t found = result.dump_to(keys.data(), distances.data(), wanted);
                for (std::size_t i = 0; i != found; ++i) {
                    float score = score_of(state.metric, distances[i]);
                    if (top.admits(score))
                        top.push(score, keys[i]);
                }
            }
        } catch (...) {
            errors[t] = std::current_exception();
        }
        if (direct)
            state.contexts.release(context);
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t)
        pool.emplace_back(worker, t);
    worker(0);
    for (auto& th : pool)
        th.join();
    for (auto& e : errors)
        if (e)
            std::rethrow_exception(e);
    for (auto& f : failures)
        if (!f.empty())
            throw std::runtime_error("search failed: " + f);
    return tops;
}

// glibc keeps freed blocks of a few MB in its heap (its mmap threshold rises after the first large
// free), so the batches that adds go through would stay resident; hand them back to the kernel.
static void release_free_memory() noexcept {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

// Backs the stored vectors of slots [from, to) with 2 MiB pages. A graph walk reads vectors at random
// across the whole index; at 1M x 512 that is 2 GB, far beyond what the TLB covers with 4 KiB pages, so
// nearly every vector read also walked the page tables. Measured here on 2 GB of vectors: 840 ns per
// random vector read with 4 KiB pages, 685 ns with 2 MiB pages. Transparent huge pages are opt-in on
// this kind of machine (`madvise` mode), so usearch's arenas are advised (future faults get huge pages)
// and what is already there is collapsed (MADV_COLLAPSE, Linux 6.1+; about 1 s per 2 GB). Only 2 MiB
// regions lying wholly inside one mapping are touched, so no other memory of the process is advised.
// Best effort: where the kernel refuses, the vectors stay on small pages, as before.
static void use_huge_pages(state_t& state, std::size_t from, std::size_t to) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t huge = std::uintptr_t(2) << 20;
#if !defined(MADV_COLLAPSE)
    constexpr int collapse = 25;
#else
    constexpr int collapse = MADV_COLLAPSE;
#endif
    try {
        dense_t::values_proxy_t values(state.index);
        std::vector<std::uintptr_t> regions;
        for (std::size_t slot = from; slot < to; ++slot) {
            auto address = reinterpret_cast<std::uintptr_t>(values[static_cast<dense_t::compressed_slot_t>(slot)]);
            std::uintptr_t region = address & ~(huge - 1);
            if (address && (regions.empty() || regions.back() != region))
                regions.push_back(region);
        }
        std::sort(regions.begin(), regions.end());
        regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
        regions.erase(std::remove_if(regions.begin(), regions.end(),
                                     [&](std::uintptr_t r) { return state.huge_regions.count(r) != 0; }),
                      regions.end());
        if (regions.empty())
            return;
        // The process's mappings, [start, end), sorted by start.
        std::vector<std::pair<std::uintptr_t, std::uintptr_t>> mappings;
        std::ifstream maps("/proc/self/maps");
        std::string line;
        while (std::getline(maps, line)) {
            std::size_t dash = line.find('-');
            if (dash == std::string::npos)
                continue;
            mappings.emplace_back(std::stoull(line.substr(0, dash), nullptr, 16),
                                  std::stoull(line.substr(dash + 1), nullptr, 16));
        }
        for (std::uintptr_t region : regions) {
            auto it = std::upper_bound(mappings.begin(), mappings.end(), std::make_pair(region, ~std::uintptr_t(0)));
            if (it == mappings.begin())
                continue;
            --it;
            if (region < it->first || region + huge > it->second)
                continue;
            void* at = reinterpret_cast<void*>(region);
            if (madvise(at, huge, MADV_HUGEPAGE) == 0)
                madvise(at, huge, collapse);
            state.huge_regions.insert(region);
        }
    } catch (...) {
    }
#else
    (void)state, (void)from, (void)to;
#endif
}

// ---------------------------------------------------------------------------------------------------
// N-API glue.

// Runs `work` on a libuv worker thread and settles a Promise with `done(env)` or the thrown error.
class task_t : public Napi::AsyncWorker {
  public:
    using work_fn = std::function<void()>;
    using done_fn = std::function<Napi::Value(Napi::Env)>;
    task_t(Napi::Env env, work_fn work, done_fn done)
        : Napi::AsyncWorker(env, "select-vector-index"), deferred_(Napi::Promise::Deferred::New(env)),
          work_(std::move(work)), done_(std::move(done)) {}
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
        try {
            work_();
        } catch (std::bad_alloc const&) {
            SetError("out of memory");
        } catch (std::exception const& e) {
            SetError(e.what());
        } catch (...) {
            SetError("unknown native error");
        }
    }
    void OnOK() override {
        Napi::Env env = Env();
        Napi::HandleScope scope(env);
        deferred_.Resolve(done_(env));
    }
    void OnError(Napi::Error const& error) override { deferred_.Reject(error.Value()); }
    // Keeps a JavaScript value (a typed array the work reads in place) alive until the task is done;
    // the references are released with the task, on the JavaScript thread.
    void keep(Napi::Value value) { kept_.push_back(Napi::Persistent(value)); }

  private:
    Napi::Promise::Deferred deferred_;
    work_fn work_;
    done_fn done_;
    std::vector<Napi::Reference<Napi::Value>> kept_;
};

static std::size_t size_arg(Napi::Value v, char const* name) {
    if (!v.IsNumber())
        throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
    double x = v.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || x != std::floor(x))
        throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a non-negative integer");
    return static_cast<std::size_t>(x);
}

// The exact kernel an options object names (`exactKernel`), into `isa`; left as it is when none is named.
static void exact_kernel_arg(Napi::Env env, Napi::Object o, exact_isa_t& isa) {
    if (!o.Get("exactKernel").IsString())
        return;
    std::string name = o.Get("exactKernel").As<Napi::String>().Utf8Value();
    auto found = std::find_if(exact_kernels.begin(), exact_kernels.end(),
                              [&](exact_isa_t const& candidate) { return name == candidate.name; });
    if (found == exact_kernels.end())
        throw Napi::RangeError::New(env, "exactKernel " + name + " is not available on this CPU");
    isa = *found;
}

static std::vector<float> floats_arg(Napi::Value v, char const* name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

static std::vector<std::uint64_t> keys_arg(Napi::Value v, char const* name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
        throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a BigUint64Array");
    auto a = v.As<Napi::BigUint64Array>();
    return std::vector<std::uint64_t>(a.Data(), a.Data() + a.ElementLength());
}

static filter_t filter_arg(Napi::Object options) {
    filter_t filter;
    Napi::Value mask = options.Get("mask");
    if (mask.IsUndefined() || mask.IsNull())
        return filter;
    if (!mask.IsTypedArray() || mask.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw Napi::TypeError::New(options.Env(), "mask must be a Uint8Array");
    auto m = mask.As<Napi::Uint8Array>();
    filter.mask.assign(m.Data(), m.Data() + m.ElementLength());
    filter.invert = options.Get("invertMask").ToBoolean().Value();
    filter.active = true;
    return filter;
}

// Results as CSR: offsets[q]..offsets[q+1] index keys/scores of query q, best first. Keys go out as
// doubles (they are dense row numbers, far below 2^53): reading a BigUint64Array allocates a BigInt
// per element, which showed up as garbage-collector time on every search.
static Napi::Value results_value(Napi::Env env, std::vector<top_t> const& tops) {
    std::size_t total = 0;
    std::vector<std::vector<top_t::entry_t>> sorted(tops.size());
    for (std::size_t q = 0; q != tops.size(); ++q) {
        sorted[q] = tops[q].sorted();
        total += sorted[q].size();
    }
    auto keys = Napi::Float64Array::New(env, total);
    auto scores = Napi::Float32Array::New(env, total);
    auto offsets = Napi::Uint32Array::New(env, tops.size() + 1);
    std::size_t at = 0;
    for (std::size_t q = 0; q != sorted.size(); ++q) {
        offsets[q] = static_cast<std::uint32_t>(at);
        for (auto const& e : sorted[q]) {
            keys[at] = static_cast<double>(e.second);
            scores[at] = e.first;
            ++at;
        }
    }
    offsets[sorted.size()] = static_cast<std::uint32_t>(at);
    Napi::Object out = Napi::Object::New(env);
    out.Set("keys", keys);
    out.Set("scores", scores);
    out.Set("offsets", offsets);
    return out;
}

class native_index_t : public Napi::ObjectWrap<native_index_t> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(env, "NativeIndex",
                           {
                               InstanceMethod("add", &native_index_t::add),
                               InstanceMethod("remove", &native_index_t::remove),
                               InstanceMethod("search", &native_index_t::search),
                               InstanceMethod("save", &native_index_t::save),
                               InstanceMethod("load", &native_index_t::load),
                               InstanceMethod("size", &native_index_t::size),
                               InstanceMethod("memoryUsage", &native_index_t::memory_usage),
                               InstanceMethod("isa", &native_index_t::isa),
                           });
    }

    // new NativeIndex({ dimensions, metric: 'ip'|'l2sq', quantization: 'f32'|'f16'|'i8', connectivity, expansionAdd })
    native_index_t(Napi::CallbackInfo const& info) : Napi::ObjectWrap<native_index_t>(info) {
        Napi::Env env = info.Env();
        if (!info[0].IsObject())
            throw Napi::TypeError::New(env, "NativeIndex expects an options object");
        Napi::Object o = info[0].As<Napi::Object>();
        std::size_t dimensions = size_arg(o.Get("dimensions"), "dimensions");
        std::string metric = o.Get("metric").ToString().Utf8Value();
        std::string quantization = o.Get("quantization").ToString().Utf8Value();
        std::size_t connectivity = size_arg(o.Get("connectivity"), "connectivity");
        std::size_t expansion_add = size_arg(o.Get("expansionAdd"), "expansionAdd");
        if (!dimensions)
            throw Napi::RangeError::New(env, "dimensions must be positive");

        if (metric != "ip" && metric != "l2sq")
            throw Napi::RangeError::New(env, "metric must be 'ip' or 'l2sq'");
        scalar_kind_t scalar_kind;
        if (quantization == "f32")
            scalar_kind = scalar_kind_t::f32_k;
        else if (quantization == "f16")
            scalar_kind = scalar_kind_t::f16_k;
        else if (quantization == "i8")
            scalar_kind = scalar_kind_t::i8_k;
        else
            throw Napi::RangeError::New(env, "quantization must be 'f32', 'f16' or 'i8'");

        state_ = std::make_shared<state_t>();
        state_->metric = metric == "ip" ? metric_t::ip : metric_t::l2sq;
        state_->dimensions = dimensions;
        // Search breadth is chosen per call (wanted = max(k, ef)), so the graph's own default is 1.
        // usearch links a new node to `connectivity` neighbours on every level; base-level nodes keep
        // up to `connectivityBase` (default 2 x connectivity) as reverse links arrive. The TypeScript
        // layer builds FAISS's base level from the spec's M: connectivity 2M and connectivityBase 2M
        // (see vector-index.ts for the measurements).
        index_dense_config_t config(connectivity, expansion_add, 1);
        if (o.Has("connectivityBase") && !o.Get("connectivityBase").IsUndefined()) {
            config.connectivity_base = size_arg(o.Get("connectivityBase"), "connectivityBase");
            if (config.connectivity_base < connectivity)
                throw Napi::RangeError::New(env, "connectivityBase must be at least connectivity");
        }
        auto made = dense_t::make(graph_metric(dimensions, state_->metric, scalar_kind), config,
                                  default_free_value<key_type>(), index_limits_t(0, kThreadContexts));
        if (!made)
            throw Napi::Error::New(env, std::string("could not create the index: ") + made.error.release());
        state_->index = std::move(made.index);
        // Address space reserved for f32 vectors up front (untouched pages cost nothing): 32 GiB unless told.
        std::size_t reserve_bytes = std::size_t(32) << 30;
        if (o.Has("reserveBytes") && o.Get("reserveBytes").IsNumber())
            reserve_bytes = size_arg(o.Get("reserveBytes"), "reserveBytes");
        if (scalar_kind == scalar_kind_t::f32_k)
            state_->slab.configure(dimensions * sizeof(float), reserve_bytes);
    }

  private:
    std::shared_ptr<state_t> state_;

    // add(keys: BigUint64Array, vectors: Float32Array, threads): Promise<void>
    // The arrays are read in place (not copied) and must not change until the promise settles.
    Napi::Value add(Napi::CallbackInfo const& info) {
        Napi::Env env = info.Env();
        if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
            throw Napi::TypeError::New(env, "keys must be a BigUint64Array");
        if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
            throw Napi::TypeError::New(env, "vectors must be a Float32Array");
        auto keys_array = info[0].As<Napi::BigUint64Array>();
        auto vectors_array = info[1].As<Napi::Float32Array>();
        std::size_t threads = std::max<std::size_t>(1, size_arg(info[2], "threads"));
        auto state = state_;
        std::size_t n = keys_array.ElementLength();
        if (vectors_array.ElementLength() != n * state->dimensions)
            throw Napi::RangeError::New(env, "vectors length must be keys.length * dimensions");
        std::uint64_t const* keys = keys_array.Data();
        float const* vectors = vectors_array.Data();
        auto* task = new task_t(
            env,
            [state, keys, vectors, n, threads] {
                {
                    std::unique_lock<std::shared_mutex> lock(state->mutex);
                    dense_t& index = state->index;
                    if (index.size() + n > index.capacity()) {
                        std::size_t want = std::max<std::size_t>(1024, index.size() + n);
                        want = std::max(want, index.capacity() * 3 / 2);
                        if (!index.try_reserve(index_limits_t(want, kThreadContexts)))
                            throw std::bad_alloc();
                    }
                    std::size_t slots_before = graph_of(index).size();
                    // f32: usearch links each vector reading it where the caller put it (no copy), and
                    // once the batch is in, every new row is copied into the slab and the table pointed
                    // there (also for rows added before a failure: the caller's arrays go away).
                    slab_t& slab = state->slab;
                    bool const in_slab = slab.row_bytes() != 0;
                    if (in_slab)
                        reserve_slab(*state, slots_before + n);
                    std::vector<std::uint32_t> slots(in_slab ? n : 0, std::numeric_limits<std::uint32_t>::max());
                    std::size_t used = std::max<std::size_t>(1, std::min(threads, n));
                    std::atomic<std::size_t> next{0};
                    std::vector<std::string> failures(used);
                    auto worker = [&](std::size_t t) {
                        for (std::size_t i = next++; i < n; i = next++) {
                            auto result = index.add(keys[i], vectors + i * state->dimensions, dense_t::any_thread(), !in_slab);
                            if (!result) {
                                failures[t] = result.error.release();
                                return;
                            }
                            if (in_slab)
                                slots[i] = static_cast<std::uint32_t>(result.slot);
                        }
                    };
                    std::vector<std::thread> pool;
                    for (std::size_t t = 1; t < used; ++t)
                        pool.emplace_back(worker, t);
                    worker(0);
                    for (auto& th : pool)
                        th.join();
                    if (in_slab) {
                        auto& lookup = index.*member_of(lookup_member_tag{});
                        for (std::size_t i = 0; i != n; ++i) {
                            std::uint32_t slot = slots[i];
                            if (slot == std::numeric_limits<std::uint32_t>::max())
                                continue;
                            std::memcpy(slab.row(slot), vectors + i * state->dimensions, slab.row_bytes());
                            lookup[slot] = reinterpret_cast<byte_t*>(slab.row(slot));
                        }
                        slab.set_used(graph_of(index).size());
                        slab.collapse();
                    }
                    for (auto& f : failures)
                        if (!f.empty())
                            throw std::runtime_error("add failed: " + f);
                    // Slots are appended; reused ones (after removals) lie in regions handled before.
                    if (!in_slab)
                        use_huge_pages(*state, slots_before, graph_of(index).size());
                }
                release_free_memory();
            },
            [](Napi::Env env) { return env.Undefined(); });
        task->keep(keys_array);
        task->keep(vectors_array);
        task->Queue();
        return task->promise();
    }

    // remove(keys: BigUint64Array): Promise<number> (how many were present)
    Napi::Value remove(Napi::CallbackInfo const& info) {
        auto keys = std::make_shared<std::vector<std::uint64_t>>(keys_arg(info[0], "keys"));
        auto state = state_;
        auto removed = std::make_shared<std::size_t>(0);
        auto* task = new task_t(
            info.Env(),
            [state, keys, removed] {
                std::unique_lock<std::shared_mutex> lock(state->mutex);
                for (auto key : *keys) {
                    auto result = state->index.remove(key);
                    if (!result)
                        throw std::runtime_error(std::string("remove failed: ") + result.error.release());
                    *removed += result.completed;
                }
            },
            [removed](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*removed)); });
        task->Queue();
        return task->promise();
    }

    // search(queries: Float32Array, options): Promise<{ keys, scores, offsets }>
    // options: { capacity, exact, breadth, floor?, threads, mask?, invertMask?, exactKernel? }
    Napi::Value search(Napi::CallbackInfo const& info) {
        Napi::Env env = info.Env();
        auto queries = floats_arg(info[0], "queries");
        if (!info[1].IsObject())
            throw Napi::TypeError::New(env, "search expects an options object");
        Napi::Object o = info[1].As<Napi::Object>();
        auto state = state_;
        std::size_t d = state->dimensions;
        if (queries.size() % d)
            throw Napi::RangeError::New(env, "queries length must be a multiple of dimensions");
        std::size_t nq = queries.size() / d;
        std::size_t capacity = size_arg(o.Get("capacity"), "capacity");
        std::size_t threads = std::max<std::size_t>(1, size_arg(o.Get("threads"), "threads"));
        bool exact = o.Get("exact").ToBoolean().Value();
        float floor = -std::numeric_limits<float>::infinity();
        if (o.Get("floor").IsNumber())
            floor = o.Get("floor").As<Napi::Number>().FloatValue();
        filter_t filter = filter_arg(o);
        auto results = std::make_shared<std::vector<top_t>>();

        task_t::work_fn work;
        if (exact) {
            auto req = std::make_shared<exact_request_t>();
            req->queries = std::move(queries), req->nq = nq, req->capacity = capacity, req->floor = floor;
            req->filter = std::move(filter), req->threads = threads;
            exact_kernel_arg(env, o, req->isa);
            work = [state, req, results] {
                std::shared_lock<std::shared_mutex> lock(state->mutex);
                *results = exact_search(*state, *req);
            };
        } else {
            auto req = std::make_shared<ann_request_t>();
            req->queries = std::move(queries), req->nq = nq, req->capacity = capacity, req->floor = floor;
            req->breadth = size_arg(o.Get("breadth"), "breadth");
            req->filter = std::move(filter), req->threads = threads;
            work = [state, req, results] {
                std::shared_lock<std::shared_mutex> lock(state->mutex);
                *results = ann_search(*state, *req);
            };
        }
        auto* task = new task_t(env, std::move(work), [results](Napi::Env env) { return results_value(env, *results); });
        task->Queue();
        return task->promise();
    }

    // save(path): Promise<void>
    Napi::Value save(Napi::CallbackInfo const& info) {
        std::string path = info[0].ToString().Utf8Value();
        auto state = state_;
        auto* task = new task_t(
            info.Env(),
            [state, path] {
                std::shared_lock<std::shared_mutex> lock(state->mutex);
                auto result = state->index.save(path.c_str());
                if (!result)
                    throw std::runtime_error(std::string("save failed: ") + result.error.release());
            },
            [](Napi::Env env) { return env.Undefined(); });
        task->Queue();
        return task->promise();
    }

    // load(path): Promise<void>; the file's dimensions, metric and scalar kind must match this index.
    Napi::Value load(Napi::CallbackInfo const& info) {
        std::string path = info[0].ToString().Utf8Value();
        auto state = state_;
        auto* task = new task_t(
            info.Env(),
            [state, path] {
                std::unique_lock<std::shared_mutex> lock(state->mutex);
                dense_t& index = state->index;
                auto expected_metric = index.metric_kind();
                auto expected_scalar = index.scalar_kind();
                slab_t& slab = state->slab;
                bool const in_slab = slab.row_bytes() != 0;
                // The file's vectors block (row count and row size, then the rows) is read straight into
                // the slab; usearch reserves room for each row in its own storage but never touches it
                // (those pages are never faulted in) and that storage is released below.
                input_file_t file(path.c_str());
                serialization_result_t io = file.open_if_not();
                if (!io)
                    throw std::runtime_error(std::string("load failed: ") + io.error.release());
                std::size_t calls = 0;
                std::uint64_t rows = 0;
                bool other_shape = false;
                auto input = [&](void* buffer, std::size_t length) {
                    std::size_t call = calls++;
                    if (in_slab && call >= 1 && call <= rows) {
                        if (length != slab.row_bytes())
                            return false;
                        io = file.read(slab.row(call - 1), length);
                        return !!io;
                    }
                    io = file.read(buffer, length);
                    if (!io)
                        return false;
                    if (in_slab && call == 0) {
                        std::uint32_t shape[2];
                        if (length != sizeof(shape))
                            return false;
                        std::memcpy(shape, buffer, sizeof(shape));
                        if (shape[1] != slab.row_bytes()) {
                            other_shape = true;
                            return false;
                        }
                        rows = shape[0];
                        slab.clear();
                        reserve_slab(*state, rows);
                    }
                    return true;
                };
                auto result = index.load_from_stream(input);
                if (other_shape)
                    throw std::runtime_error("load failed: the file was written by an index of another shape");
                if (!result)
                    throw std::runtime_error(std::string("load failed: ") +
                                             (io ? result.error.release() : io.error.release()));
                if (in_slab) {
                    slab.set_used(rows);
                    point_into_slab(*state, 0, rows);
                    (index.*member_of(tape_member_tag{})).reset();
                }
                if (index.dimensions() != state->dimensions || index.metric_kind() != expected_metric ||
                    index.scalar_kind() != expected_scalar)
                    throw std::runtime_error("load failed: the file was written by an index of another shape");
                // The file records only the metric's kind; loading picks usearch's built-in kernel for it.
                index.change_metric(graph_metric(state->dimensions, state->metric, expected_scalar));
                state->huge_regions.clear();
                if (in_slab)
                    slab.collapse();
                else
                    use_huge_pages(*state, 0, graph_of(index).size());
                if (!index.try_reserve(index_limits_t(std::max<std::size_t>(1024, index.size()), kThreadContexts)))
                    throw std::bad_alloc();
            },
            [](Napi::Env env) { return env.Undefined(); });
        task->Queue();
        return task->promise();
    }

    Napi::Value size(Napi::CallbackInfo const& info) {
        // Read without the lock: a count that is a moment old is fine for stats, blocking the event loop is not.
        return Napi::Number::New(info.Env(), static_cast<double>(state_->index.size()));
    }

    Napi::Value memory_usage(Napi::CallbackInfo const& info) {
        return Napi::Number::New(info.Env(), static_cast<double>(state_->index.memory_usage() + state_->slab.used_bytes()));
    }

    // Which SIMD paths are used: the graph's distance kernel and the exact kernel.
    Napi::Value isa(Napi::CallbackInfo const& info) {
        Napi::Object out = Napi::Object::New(info.Env());
        bool f32 = state_->index.scalar_kind() == scalar_kind_t::f32_k;
        out.Set("graph", f32 ? simd_name() : "usearch-autovec");
        out.Set("exact", exact_kernels.front().name);
        return out;
    }
};

// selfSimilarity(vectors: Float32Array, dimensions, order: Int32Array, { threads, normalize, threshold?,
// pairs?, exactKernel? }): the self-similarity scan (self_scan) of the rows `order` names, on a libuv worker
// thread. The vectors are read in place (the caller must not change them until the promise settles).
static Napi::Value self_similarity(Napi::CallbackInfo const& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw Napi::TypeError::New(env, "vectors must be a Float32Array");
    auto vectors = info[0].As<Napi::Float32Array>();
    std::size_t d = size_arg(info[1], "dimensions");
    if (!d || vectors.ElementLength() % d)
        throw Napi::RangeError::New(env, "vectors length must be a positive multiple of dimensions");
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        throw Napi::TypeError::New(env, "order must be an Int32Array");
    if (!info[3].IsObject())
        throw Napi::TypeError::New(env, "selfSimilarity expects an options object");
    auto order = info[2].As<Napi::Int32Array>();
    Napi::Object o = info[3].As<Napi::Object>();
    auto req = std::make_shared<self_scan_request_t>();
    req->vectors = vectors.Data(), req->rows = vectors.ElementLength() / d, req->d = d;
    req->order.assign(order.Data(), order.Data() + order.ElementLength());
    for (std::int32_t row : req->order)
        if (row < 0 || static_cast<std::size_t>(row) >= req->rows)
            throw Napi::RangeError::New(env, "order names a row outside vectors");
    req->threads = std::max<std::size_t>(1, size_arg(o.Get("threads"), "threads"));
    req->normalize = o.Get("normalize").ToBoolean().Value();
    if (o.Get("threshold").IsNumber()) {
        double t = o.Get("threshold").As<Napi::Number>().DoubleValue();
        if (!std::isfinite(t))
            throw Napi::RangeError::New(env, "threshold must be finite");
        req->has_threshold = true, req->threshold = t;
        req->want_pairs = o.Get("pairs").ToBoolean().Value();
    }
    exact_kernel_arg(env, o, req->isa);
    auto result = std::make_shared<self_scan_result_t>();
    auto* task = new task_t(
        env, [req, result] { self_scan(*req, *result); },
        [result](Napi::Env env) {
            Napi::Object out = Napi::Object::New(env);
            auto best = Napi::Float64Array::New(env, result->best.size());
            std::copy(result->best.begin(), result->best.end(), best.Data());
            auto best_at = Napi::Int32Array::New(env, result->best_at.size());
            std::copy(result->best_at.begin(), result->best_at.end(), best_at.Data());
            auto pairs = Napi::Int32Array::New(env, result->pairs.size());
            std::copy(result->pairs.begin(), result->pairs.end(), pairs.Data());
            auto pair_scores = Napi::Float64Array::New(env, result->pair_scores.size());
            std::copy(result->pair_scores.begin(), result->pair_scores.end(), pair_scores.Data());
            out.Set("best", best);
            out.Set("bestAt", best_at);
            out.Set("pairs", pairs);
            out.Set("pairScores", pair_scores);
            out.Set("invalidRow", Napi::Number::New(env, static_cast<double>(result->invalid_row)));
            out.Set("refined", Napi::Number::New(env, static_cast<double>(result->refined)));
            return out;
        });
    task->keep(info[0]);
    task->Queue();
    return task->promise();
}

// bestMatches(a: Float32Array, b: Float32Array, dimensions, { threads, normalize, exactKernel? }): per row of
// a, its best row of b (best_match), on a libuv worker thread; a and b are read in place until it settles.
static Napi::Value best_matches(Napi::CallbackInfo const& info) {
    Napi::Env env = info.Env();
    for (int i = 0; i != 2; ++i)
        if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
            throw Napi::TypeError::New(env, i == 0 ? "a must be a Float32Array" : "b must be a Float32Array");
    auto a = info[0].As<Napi::Float32Array>(), b = info[1].As<Napi::Float32Array>();
    std::size_t d = size_arg(info[2], "dimensions");
    if (!d || a.ElementLength() % d || b.ElementLength() % d)
        throw Napi::RangeError::New(env, "a and b lengths must be multiples of dimensions");
    if (!info[3].IsObject())
        throw Napi::TypeError::New(env, "bestMatches expects an options object");
    Napi::Object o = info[3].As<Napi::Object>();
    auto req = std::make_shared<best_match_request_t>();
    req->a = a.Data(), req->na = a.ElementLength() / d, req->b = b.Data(), req->nb = b.ElementLength() / d, req->d = d;
    req->threads = std::max<std::size_t>(1, size_arg(o.Get("threads"), "threads"));
    req->normalize = o.Get("normalize").ToBoolean().Value();
    exact_kernel_arg(env, o, req->isa);
    auto result = std::make_shared<best_match_result_t>();
    auto* task = new task_t(
        env, [req, result] { best_match(*req, *result); },
        [result](Napi::Env env) {
            Napi::Object out = Napi::Object::New(env);
            auto index = Napi::Int32Array::New(env, result->index.size());
            std::copy(result->index.begin(), result->index.end(), index.Data());
            auto score = Napi::Float32Array::New(env, result->score.size());
            std::copy(result->score.begin(), result->score.end(), score.Data());
            out.Set("index", index);
            out.Set("score", score);
            return out;
        });
    task->keep(info[0]);
    task->keep(info[1]);
    task->Queue();
    return task->promise();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
    exports.Set("NativeIndex", native_index_t::define(env));
    // The exact kernels this CPU can run, best (the default) first.
    Napi::Array names = Napi::Array::New(env, exact_kernels.size());
    for (std::size_t i = 0; i != exact_kernels.size(); ++i)
        names.Set(static_cast<std::uint32_t>(i), exact_kernels[i].name);
    exports.Set("exactKernels", names);
    exports.Set("selfSimilarity", Napi::Function::New(env, self_similarity, "selfSimilarity"));
    exports.Set("bestMatches", Napi::Function::New(env, best_matches, "bestMatches"));
    return exports;
}

} // namespace

NODE_API_MODULE(select_vector_index, init)
