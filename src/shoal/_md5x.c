/*
 * shoal._md5x -- multi-buffer MD5: many independent MD5 streams hashed together across SIMD
 * lanes.
 *
 * One MD5 stream is a serial chain of dependent 32-bit operations and cannot be made faster,
 * but independent streams can share a vector register set: with AVX2 each of the 8 32-bit
 * lanes of a ymm register holds the A/B/C/D word of a different stream, and one pass of the 64
 * MD5 steps compresses 8 blocks (one per lane) at about the cost of one.
 *
 * Python API
 * ----------
 *
 *   STATE_SIZE: int   bytes in a state buffer (96)
 *   LANES: int        lanes of the compression used at run time (8 for avx2, 1 for scalar)
 *   BACKEND: str      "avx2" or "scalar"
 *   new() -> bytearray
 *       A fresh state: MD5 initial value, nothing fed.
 *   update(jobs: list[tuple[bytearray, list[Buffer]]], /) -> None
 *       For each (state, buffers) job, feeds the buffers (any C-contiguous bytes-like objects,
 *       any lengths) into the state, in order. jobs and each buffers may be lists or tuples;
 *       each job must be a 2-tuple and each state a bytearray of STATE_SIZE bytes (TypeError,
 *       ValueError otherwise; a non-contiguous buffer raises BufferError). All jobs of one call
 *       are hashed together: each lane works through one job's 64-byte blocks and, when that
 *       job has no whole block left, takes the next unstarted job (the biggest jobs start
 *       first); idle lanes compress a dummy block whose result is dropped, and once a single
 *       job is left it is finished with the scalar compression. A block spanning two buffers
 *       (or the pending bytes and a buffer) is assembled in that job's 64-byte pending area,
 *       which is the lane's staging block. Bytes that do not fill a block stay pending in the
 *       state for the next buffer or the next call. The GIL is released while hashing (from
 *       2 KiB of input per call); every buffer is acquired first, which also keeps bytearrays
 *       from being resized meanwhile. Every state is written back only once all jobs are
 *       done, so a state passed as input data to another job is read as it was before the
 *       call. A state may appear only once per call (ValueError). On any error no state is
 *       changed.
 *   digest(state: Buffer, /) -> bytes
 *       The 16-byte MD5 of everything fed to the state so far. The state is not modified (the
 *       padding is applied to a copy) and may be fed further; bytearray(state) clones a state.
 *
 * State layout (STATE_SIZE = 96 bytes, native byte order, opaque to callers):
 *
 *   [ 0, 16)  A, B, C, D chaining words (uint32 each)
 *   [16, 24)  total number of bytes fed (uint64)
 *   [24, 88)  pending bytes not yet compressed (only the first `pending count` are meaningful)
 *   [88]      pending count, 0..63 (always equals total % 64; checked on use)
 *   [89, 96)  reserved, zero
 *
 * SHOAL_MD5X_SCALAR set in the environment at import (to anything but "" or "0") forces the
 * scalar backend; builds for other CPUs or with -DMD5X_NO_SIMD only have the scalar one.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* MD5X_NO_SIMD (-DMD5X_NO_SIMD) builds the portable scalar code alone, as on other CPUs. */
#if !defined(MD5X_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define MD5X_HAVE_AVX2 1
#include <immintrin.h>
#else
#define MD5X_HAVE_AVX2 0
#endif

#define STATE_SIZE 96
#define OFF_H 0
#define OFF_TOTAL 16
#define OFF_PEND 24
#define OFF_NPEND 88
#define BLOCK 64
#define MAX_LANES 8
/* Below this many input bytes per call the GIL is kept (releasing it costs more). */
#define GIL_RELEASE_MIN 2048

static const uint32_t md5_iv[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};

static const uint32_t md5_k[64] = {
    0xd76aa478u, 0xe8c7b756u, 0x242070dbu, 0xc1bdceeeu, 0xf57c0fafu, 0x4787c62au, 0xa8304613u,
    0xfd469501u, 0x698098d8u, 0x8b44f7afu, 0xffff5bb1u, 0x895cd7beu, 0x6b901122u, 0xfd987193u,
    0xa679438eu, 0x49b40821u, 0xf61e2562u, 0xc040b340u, 0x265e5a51u, 0xe9b6c7aau, 0xd62f105du,
    0x02441453u, 0xd8a1e681u, 0xe7d3fbc8u, 0x21e1cde6u, 0xc33707d6u, 0xf4d50d87u, 0x455a14edu,
    0xa9e3e905u, 0xfcefa3f8u, 0x676f02d9u, 0x8d2a4c8au, 0xfffa3942u, 0x8771f681u, 0x6d9d6122u,
    0xfde5380cu, 0xa4beea44u, 0x4bdecfa9u, 0xf6bb4b60u, 0xbebfbc70u, 0x289b7ec6u, 0xeaa127fau,
    0xd4ef3085u, 0x04881d05u, 0xd9d4d039u, 0xe6db99e5u, 0x1fa27cf8u, 0xc4ac5665u, 0xf4292244u,
    0x432aff97u, 0xab9423a7u, 0xfc93a039u, 0x655b59c3u, 0x8f0ccc92u, 0xffeff47du, 0x85845dd1u,
    0x6fa87e4fu, 0xfe2ce6e0u, 0xa3014314u, 0x4e0811a1u, 0xf7537e82u, 0xbd3af235u, 0x2ad7d2bbu,
    0xeb86d391u,
};

/* ------------------------------------------------------------------------- scalar MD5 */

static inline uint32_t
load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void
store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define ROTL32(x, s) (((x) << (s)) | ((x) >> (32 - (s))))

/* The 64 MD5 steps in order, for both compressions: STEP(f, a, b, c, d, step, word, shift)
 * in rounds 1, 3 and 4 (f is F, H or I), STEPG(a, b, c, d, step, word, shift) in round 2. */
#define MD5_STEPS(STEP, STEPG, F, H, I) \
    STEP(F, a, b, c, d, 0, 0, 7);    STEP(F, d, a, b, c, 1, 1, 12); \
    STEP(F, c, d, a, b, 2, 2, 17);   STEP(F, b, c, d, a, 3, 3, 22); \
    STEP(F, a, b, c, d, 4, 4, 7);    STEP(F, d, a, b, c, 5, 5, 12); \
    STEP(F, c, d, a, b, 6, 6, 17);   STEP(F, b, c, d, a, 7, 7, 22); \
    STEP(F, a, b, c, d, 8, 8, 7);    STEP(F, d, a, b, c, 9, 9, 12); \
    STEP(F, c, d, a, b, 10, 10, 17); STEP(F, b, c, d, a, 11, 11, 22); \
    STEP(F, a, b, c, d, 12, 12, 7);  STEP(F, d, a, b, c, 13, 13, 12); \
    STEP(F, c, d, a, b, 14, 14, 17); STEP(F, b, c, d, a, 15, 15, 22); \
    STEPG(a, b, c, d, 16, 1, 5);   STEPG(d, a, b, c, 17, 6, 9); \
    STEPG(c, d, a, b, 18, 11, 14); STEPG(b, c, d, a, 19, 0, 20); \
    STEPG(a, b, c, d, 20, 5, 5);   STEPG(d, a, b, c, 21, 10, 9); \
    STEPG(c, d, a, b, 22, 15, 14); STEPG(b, c, d, a, 23, 4, 20); \
    STEPG(a, b, c, d, 24, 9, 5);   STEPG(d, a, b, c, 25, 14, 9); \
    STEPG(c, d, a, b, 26, 3, 14);  STEPG(b, c, d, a, 27, 8, 20); \
    STEPG(a, b, c, d, 28, 13, 5);  STEPG(d, a, b, c, 29, 2, 9); \
    STEPG(c, d, a, b, 30, 7, 14);  STEPG(b, c, d, a, 31, 12, 20); \
    STEP(H, a, b, c, d, 32, 5, 4);   STEP(H, d, a, b, c, 33, 8, 11); \
    STEP(H, c, d, a, b, 34, 11, 16); STEP(H, b, c, d, a, 35, 14, 23); \
    STEP(H, a, b, c, d, 36, 1, 4);   STEP(H, d, a, b, c, 37, 4, 11); \
    STEP(H, c, d, a, b, 38, 7, 16);  STEP(H, b, c, d, a, 39, 10, 23); \
    STEP(H, a, b, c, d, 40, 13, 4);  STEP(H, d, a, b, c, 41, 0, 11); \
    STEP(H, c, d, a, b, 42, 3, 16);  STEP(H, b, c, d, a, 43, 6, 23); \
    STEP(H, a, b, c, d, 44, 9, 4);   STEP(H, d, a, b, c, 45, 12, 11); \
    STEP(H, c, d, a, b, 46, 15, 16); STEP(H, b, c, d, a, 47, 2, 23); \
    STEP(I, a, b, c, d, 48, 0, 6);   STEP(I, d, a, b, c, 49, 7, 10); \
    STEP(I, c, d, a, b, 50, 14, 15); STEP(I, b, c, d, a, 51, 5, 21); \
    STEP(I, a, b, c, d, 52, 12, 6);  STEP(I, d, a, b, c, 53, 3, 10); \
    STEP(I, c, d, a, b, 54, 10, 15); STEP(I, b, c, d, a, 55, 1, 21); \
    STEP(I, a, b, c, d, 56, 8, 6);   STEP(I, d, a, b, c, 57, 15, 10); \
    STEP(I, c, d, a, b, 58, 6, 15);  STEP(I, b, c, d, a, 59, 13, 21); \
    STEP(I, a, b, c, d, 60, 4, 6);   STEP(I, d, a, b, c, 61, 11, 10); \
    STEP(I, c, d, a, b, 62, 2, 15);  STEP(I, b, c, d, a, 63, 9, 21);

#define SF(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define SH(b, c, d) ((b) ^ ((c) ^ (d)))
#define SI(b, c, d) ((c) ^ ((b) | ~(d)))
#if defined(__GNUC__) || defined(__clang__)
/* Keeps a + K + w apart so that the compiler does not put it on the critical path. */
#define SKEEP(x) __asm__("" : "+r"(x))
#else
#define SKEEP(x) ((void)0)
#endif
#define SSTEP(f, a, b, c, d, i, g, s)        \
    do {                                     \
        uint32_t akw_ = a + md5_k[i] + w[g]; \
        SKEEP(akw_);                         \
        a = akw_ + f(b, c, d);               \
        a = ROTL32(a, s) + b;                \
    } while (0)
/* G = (b & d) | (c & ~d), added as two terms with disjoint bits, c & ~d early. */
#define SSTEPG(a, b, c, d, i, g, s)                     \
    do {                                                \
        uint32_t akw_ = a + md5_k[i] + w[g] + (c & ~d); \
        SKEEP(akw_);                                    \
        a = akw_ + (b & d);                             \
        a = ROTL32(a, s) + b;                           \
    } while (0)

static void
md5_compress_scalar(uint32_t h[4], const uint8_t *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = load_le32(p + 4 * i);
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];

    MD5_STEPS(SSTEP, SSTEPG, SF, SH, SI);

    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

/* ------------------------------------------------------------------------- AVX2 MD5 x 8 */

#if MD5X_HAVE_AVX2

#define MD5X_TARGET __attribute__((target("avx2")))

/* A block of zeros compressed by idle lanes; their results are discarded. */
static const uint8_t dummy_block[BLOCK] = {0};

#define VADD(x, y) _mm256_add_epi32((x), (y))
#define VXOR(x, y) _mm256_xor_si256((x), (y))
#define VAND(x, y) _mm256_and_si256((x), (y))
#define VOR(x, y) _mm256_or_si256((x), (y))
/* The step functions are written to keep the newest word, b, late in the dependency chain
 * (the steps are latency-bound): F = d ^ (b & (c ^ d)), H = b ^ (c ^ d), I = c ^ (b | ~d),
 * and G = (b & d) | (c & ~d) is added as two terms with disjoint bits, c & ~d early. */
#define VF(b, c, d) VXOR(d, VAND(b, VXOR(c, d)))
#define VH(b, c, d) VXOR(b, VXOR(c, d))
#define VI(b, c, d) VXOR(c, VOR(b, VXOR(d, ones)))
#define VROT(a, s) VOR(_mm256_slli_epi32(a, s), _mm256_srli_epi32(a, 32 - (s)))
#define VK(i) _mm256_load_si256((const __m256i *)(const void *)md5_k8[i])
/* a + K[i] + w[g], kept apart from the rest of the step (the empty asm stops the compiler from
 * reassociating the additions and putting the sum on the critical path). */
#define VAKW(a, i, g)                                      \
    __extension__({                                        \
        __m256i akw_ = VADD(a, VADD(VK(i), w[g]));         \
        __asm__("" : "+x"(akw_));                          \
        akw_;                                              \
    })
#define VSTEP(f, a, b, c, d, i, g, s)                 \
    do {                                              \
        a = VADD(VAKW(a, i, g), f(b, c, d));          \
        a = VADD(VROT(a, s), b);                      \
    } while (0)
#define VSTEPG(a, b, c, d, i, g, s)                                                   \
    do {                                                                              \
        a = VADD(VAKW(VADD(a, _mm256_andnot_si256(d, c)), i, g), VAND(b, d));         \
        a = VADD(VROT(a, s), b);                                                      \
    } while (0)

/* md5_k broadcast to 8 lanes (filled at import). */
static _Alignas(32) uint32_t md5_k8[64][MAX_LANES];

static void
md5_k8_init(void)
{
    for (int i = 0; i < 64; i++) {
        for (int l = 0; l < MAX_LANES; l++) {
            md5_k8[i][l] = md5_k[i];
        }
    }
}

/* Compresses the 8 blocks p[0..7], one per lane, into st[word][lane]. */
MD5X_TARGET static void
md5_compress_avx2(uint32_t st[4][MAX_LANES], const uint8_t *const p[MAX_LANES])
{
    __m256i w[16];

    /* Transpose: w[g] holds message word g of lane 0..7. Two 8x8 transposes of 32-bit words
     * (words 0-7 and 8-15) from one 32-byte load per lane each. */
    for (int half = 0; half < 2; half++) {
        const int o = 32 * half;
        __m256i r0 = _mm256_loadu_si256((const __m256i *)(const void *)(p[0] + o));
        __m256i r1 = _mm256_loadu_si256((const __m256i *)(const void *)(p[1] + o));
        __m256i r2 = _mm256_loadu_si256((const __m256i *)(const void *)(p[2] + o));
        __m256i r3 = _mm256_loadu_si256((const __m256i *)(const void *)(p[3] + o));
        __m256i r4 = _mm256_loadu_si256((const __m256i *)(const void *)(p[4] + o));
        __m256i r5 = _mm256_loadu_si256((const __m256i *)(const void *)(p[5] + o));
        __m256i r6 = _mm256_loadu_si256((const __m256i *)(const void *)(p[6] + o));
        __m256i r7 = _mm256_loadu_si256((const __m256i *)(const void *)(p[7] + o));
        __m256i t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpackhi_epi32(r0, r1);
        __m256i t2 = _mm256_unpacklo_epi32(r2, r3), t3 = _mm256_unpackhi_epi32(r2, r3);
        __m256i t4 = _mm256_unpacklo_epi32(r4, r5), t5 = _mm256_unpackhi_epi32(r4, r5);
        __m256i t6 = _mm256_unpacklo_epi32(r6, r7), t7 = _mm256_unpackhi_epi32(r6, r7);
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
        __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
        __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
        __m256i *wo = w + 8 * half;
        wo[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
        wo[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
        wo[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
        wo[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
        wo[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
        wo[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
        wo[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
        wo[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
    }

    const __m256i ones = _mm256_set1_epi32(-1);
    const __m256i a0 = _mm256_load_si256((const __m256i *)(const void *)st[0]);
    const __m256i b0 = _mm256_load_si256((const __m256i *)(const void *)st[1]);
    const __m256i c0 = _mm256_load_si256((const __m256i *)(const void *)st[2]);
    const __m256i d0 = _mm256_load_si256((const __m256i *)(const void *)st[3]);
    __m256i a = a0, b = b0, c = c0, d = d0;

    MD5_STEPS(VSTEP, VSTEPG, VF, VH, VI);

    _mm256_store_si256((__m256i *)(void *)st[0], VADD(a, a0));
    _mm256_store_si256((__m256i *)(void *)st[1], VADD(b, b0));
    _mm256_store_si256((__m256i *)(void *)st[2], VADD(c, c0));
    _mm256_store_si256((__m256i *)(void *)st[3], VADD(d, d0));
}

#endif /* MD5X_HAVE_AVX2 */

/* ------------------------------------------------------------------------- jobs */

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} span_t;

typedef struct {
    uint32_t h[4];
    uint64_t total;          /* total after this call (known up front) */
    uint64_t size;           /* bytes fed by this call, for scheduling */
    uint8_t *state;          /* the state bytearray's memory (buffer held, so it stays put) */
    span_t *spans;           /* this job's input buffers */
    Py_ssize_t nspans;
    Py_ssize_t si;           /* current span */
    Py_ssize_t off;          /* offset in the current span */
    unsigned npend;          /* bytes in pend */
    uint8_t pend[BLOCK];     /* pending bytes; also the staging area of blocks spanning buffers */
} job_t;

/* A job in scheduling order. */
typedef struct {
    uint64_t size;
    Py_ssize_t idx;
} order_t;

/* The next whole block of the job, or NULL when fewer than 64 bytes remain (those are then
 * all in job->pend). A block spanning buffers is assembled in job->pend and the pointer to it
 * stays valid until the next call for the same job. */
static inline const uint8_t *
next_block(job_t *job)
{
    if (job->npend == 0) {
        while (job->si < job->nspans && job->off == job->spans[job->si].n) {
            job->si++;
            job->off = 0;
        }
        if (job->si < job->nspans && job->spans[job->si].n - job->off >= BLOCK) {
            const uint8_t *p = job->spans[job->si].p + job->off;
            job->off += BLOCK;
            return p;
        }
    }
    while (job->si < job->nspans) {
        const span_t *sp = &job->spans[job->si];
        Py_ssize_t avail = sp->n - job->off;
        Py_ssize_t take = (Py_ssize_t)(BLOCK - job->npend);
        if (take > avail) {
            take = avail;
        }
        memcpy(job->pend + job->npend, sp->p + job->off, (size_t)take);
        job->npend += (unsigned)take;
        job->off += take;
        if (job->off == sp->n) {
            job->si++;
            job->off = 0;
        }
        if (job->npend == BLOCK) {
            job->npend = 0;
            return job->pend;
        }
    }
    return NULL;
}

static void
run_jobs_scalar(job_t *jobs, Py_ssize_t njobs)
{
    for (Py_ssize_t j = 0; j < njobs; j++) {
        const uint8_t *p;
        while ((p = next_block(&jobs[j])) != NULL) {
            md5_compress_scalar(jobs[j].h, p);
        }
    }
}

#if MD5X_HAVE_AVX2
/* order: the jobs in the order lanes take them up. */
static void
run_jobs_avx2(job_t *jobs, const order_t *order, Py_ssize_t njobs)
{
    _Alignas(32) uint32_t st[4][MAX_LANES];
    job_t *lane_job[MAX_LANES];
    const uint8_t *ptr[MAX_LANES];
    Py_ssize_t next = 0;

    memset(st, 0, sizeof(st));
    for (int l = 0; l < MAX_LANES; l++) {
        lane_job[l] = NULL;
    }
    for (;;) {
        int active = 0, last = -1;
        for (int l = 0; l < MAX_LANES; l++) {
            const uint8_t *p = NULL;
            while (p == NULL) {
                job_t *job = lane_job[l];
                if (job != NULL) {
                    p = next_block(job);
                    if (p != NULL) {
                        break;
                    }
                    for (int k = 0; k < 4; k++) {
                        job->h[k] = st[k][l];
                    }
                    lane_job[l] = NULL;
                }
                if (next == njobs) {
                    break;
                }
                job = lane_job[l] = &jobs[order[next++].idx];
                for (int k = 0; k < 4; k++) {
                    st[k][l] = job->h[k];
                }
            }
            if (p != NULL) {
                active++;
                last = l;
                ptr[l] = p;
            }
            else {
                ptr[l] = dummy_block;
            }
        }
        if (active == 0) {
            return;
        }
        if (active == 1) {
            /* One stream left: the scalar compression is faster than 8 lanes with 7 idle. */
            job_t *job = lane_job[last];
            const uint8_t *p = ptr[last];
            for (int k = 0; k < 4; k++) {
                job->h[k] = st[k][last];
            }
            do {
                md5_compress_scalar(job->h, p);
            } while ((p = next_block(job)) != NULL);
            return;
        }
        md5_compress_avx2(st, ptr);
    }
}
#endif

/* ------------------------------------------------------------------------- module */

static int use_avx2 = 0;

static void
state_init(uint8_t *s)
{
    memset(s, 0, STATE_SIZE);
    memcpy(s + OFF_H, md5_iv, sizeof(md5_iv));
}

/* Checks a state's content; 0 if fine, -1 with ValueError set. */
static int
state_check(const uint8_t *s)
{
    uint64_t total;
    memcpy(&total, s + OFF_TOTAL, sizeof(total));
    if (s[OFF_NPEND] >= BLOCK || s[OFF_NPEND] != (uint8_t)(total % BLOCK)) {
        PyErr_SetString(PyExc_ValueError, "corrupt md5x state");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(new_doc,
             "new($module, /)\n--\n\n"
             "A fresh MD5 state (a bytearray of STATE_SIZE bytes): nothing fed yet.");

static PyObject *
md5x_new(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *ba = PyByteArray_FromStringAndSize(NULL, STATE_SIZE);
    if (ba == NULL) {
        return NULL;
    }
    state_init((uint8_t *)PyByteArray_AS_STRING(ba));
    return ba;
}

PyDoc_STRVAR(digest_doc,
             "digest($module, state, /)\n--\n\n"
             "The 16-byte MD5 of everything fed to state so far. The state is left unchanged\n"
             "and can be fed further.");

static PyObject *
md5x_digest(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len != STATE_SIZE) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "md5x state must be %d bytes, not %zd", STATE_SIZE,
                     view.len);
        return NULL;
    }
    uint8_t s[STATE_SIZE];
    memcpy(s, view.buf, STATE_SIZE);
    PyBuffer_Release(&view);
    if (state_check(s) < 0) {
        return NULL;
    }

    uint32_t h[4];
    uint64_t total;
    unsigned npend = s[OFF_NPEND];
    uint8_t block[2 * BLOCK];
    memcpy(h, s + OFF_H, sizeof(h));
    memcpy(&total, s + OFF_TOTAL, sizeof(total));
    memset(block, 0, sizeof(block));
    memcpy(block, s + OFF_PEND, npend);
    block[npend] = 0x80;
    unsigned padded = npend < 56 ? BLOCK : 2 * BLOCK;
    uint64_t bits = total << 3;
    for (int i = 0; i < 8; i++) {
        block[padded - 8 + i] = (uint8_t)(bits >> (8 * i));
    }
    md5_compress_scalar(h, block);
    if (padded == 2 * BLOCK) {
        md5_compress_scalar(h, block + BLOCK);
    }
    uint8_t out[16];
    for (int i = 0; i < 4; i++) {
        store_le32(out + 4 * i, h[i]);
    }
    return PyBytes_FromStringAndSize((const char *)out, 16);
}

static int
cmp_ptr(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t) * (uint8_t *const *)x, b = (uintptr_t) * (uint8_t *const *)y;
    return (a > b) - (a < b);
}

#if MD5X_HAVE_AVX2
static int
cmp_size_desc(const void *x, const void *y)
{
    uint64_t a = ((const order_t *)x)->size, b = ((const order_t *)y)->size;
    return (a < b) - (a > b);
}
#endif

PyDoc_STRVAR(
    update_doc,
    "update($module, jobs, /)\n--\n\n"
    "Feed data into several MD5 states at once.\n\n"
    "jobs is a list of (state, buffers) pairs: state a bytearray from new(), buffers a list\n"
    "of bytes-like objects fed to it in order. The jobs are hashed together across SIMD\n"
    "lanes with the GIL released. A state may appear only once per call.");

static PyObject *
md5x_update(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyObject *jobs_seq = NULL;
    PyObject **bufseqs = NULL;   /* per job: its buffers as a list/tuple (new reference) */
    Py_buffer *views = NULL;     /* states first (njobs), then all inputs (nviews - njobs) */
    Py_ssize_t nviews = 0;
    job_t *jobs = NULL;
    span_t *spans = NULL;
    order_t *order = NULL;
    uint8_t **ptrs = NULL;
    PyObject *result = NULL;
    Py_ssize_t njobs = 0, nbufs = 0;
    uint64_t total_bytes = 0;

    if (!PyList_Check(arg) && !PyTuple_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "jobs must be a list of (state, buffers) pairs, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    /* A private snapshot: nothing can change it while buffers are being acquired. */
    jobs_seq = PySequence_Tuple(arg);
    if (jobs_seq == NULL) {
        return NULL;
    }
    njobs = PyTuple_GET_SIZE(jobs_seq);
    if (njobs == 0) {
        Py_DECREF(jobs_seq);
        Py_RETURN_NONE;
    }
    bufseqs = PyMem_Calloc((size_t)njobs, sizeof(PyObject *));
    if (bufseqs == NULL) {
        PyErr_NoMemory();
        goto done;
    }

    /* Pass 1: check the shapes and types, snapshot each job's buffer list, count buffers. */
    for (Py_ssize_t j = 0; j < njobs; j++) {
        PyObject *job = PyTuple_GET_ITEM(jobs_seq, j);
        if (!PyTuple_Check(job) || PyTuple_GET_SIZE(job) != 2) {
            PyErr_Format(PyExc_TypeError, "jobs[%zd] must be a (state, buffers) tuple, not %.100s",
                         j, Py_TYPE(job)->tp_name);
            goto done;
        }
        PyObject *state = PyTuple_GET_ITEM(job, 0), *bufs = PyTuple_GET_ITEM(job, 1);
        if (!PyByteArray_Check(state)) {
            PyErr_Format(PyExc_TypeError, "jobs[%zd] state must be a bytearray, not %.100s", j,
                         Py_TYPE(state)->tp_name);
            goto done;
        }
        if (PyByteArray_GET_SIZE(state) != STATE_SIZE) {
            PyErr_Format(PyExc_ValueError, "jobs[%zd] state must be %d bytes, not %zd", j,
                         STATE_SIZE, PyByteArray_GET_SIZE(state));
            goto done;
        }
        if (!PyList_Check(bufs) && !PyTuple_Check(bufs)) {
            PyErr_Format(PyExc_TypeError, "jobs[%zd] buffers must be a list, not %.100s", j,
                         Py_TYPE(bufs)->tp_name);
            goto done;
        }
        bufseqs[j] = PySequence_Tuple(bufs);
        if (bufseqs[j] == NULL) {
            goto done;
        }
        nbufs += PyTuple_GET_SIZE(bufseqs[j]);
    }

    views = PyMem_Calloc((size_t)(njobs + nbufs), sizeof(Py_buffer));
    jobs = PyMem_Calloc((size_t)njobs, sizeof(job_t));
    spans = PyMem_Calloc((size_t)(nbufs > 0 ? nbufs : 1), sizeof(span_t));
    order = PyMem_Calloc((size_t)njobs, sizeof(order_t));
    ptrs = PyMem_Calloc((size_t)njobs, sizeof(uint8_t *));
    if (views == NULL || jobs == NULL || spans == NULL || order == NULL || ptrs == NULL) {
        PyErr_NoMemory();
        goto done;
    }

    /* Pass 2: acquire every buffer (the states writable: this also stops them being resized
     * while the GIL is released) and set up the jobs. */
    for (Py_ssize_t j = 0; j < njobs; j++) {
        PyObject *state = PyTuple_GET_ITEM(PyTuple_GET_ITEM(jobs_seq, j), 0);
        if (PyObject_GetBuffer(state, &views[nviews], PyBUF_WRITABLE) < 0) {
            goto done;
        }
        nviews++;
        if (views[nviews - 1].len != STATE_SIZE) { /* resized by a concurrent thread */
            PyErr_Format(PyExc_ValueError, "jobs[%zd] state must be %d bytes", j, STATE_SIZE);
            goto done;
        }
        ptrs[j] = (uint8_t *)views[nviews - 1].buf;
    }
    qsort(ptrs, (size_t)njobs, sizeof(uint8_t *), cmp_ptr);
    for (Py_ssize_t j = 1; j < njobs; j++) {
        if (ptrs[j] == ptrs[j - 1]) {
            PyErr_SetString(PyExc_ValueError, "the same state appears twice in one update()");
            goto done;
        }
    }

    Py_ssize_t si = 0;
    for (Py_ssize_t j = 0; j < njobs; j++) {
        job_t *job = &jobs[j];
        uint8_t *s = (uint8_t *)views[j].buf;
        if (state_check(s) < 0) {
            goto done;
        }
        memcpy(job->h, s + OFF_H, sizeof(job->h));
        memcpy(&job->total, s + OFF_TOTAL, sizeof(job->total));
        job->npend = s[OFF_NPEND];
        memcpy(job->pend, s + OFF_PEND, job->npend);
        job->state = s;
        job->spans = spans + si;
        PyObject *bufs = bufseqs[j];
        for (Py_ssize_t b = 0; b < PyTuple_GET_SIZE(bufs); b++) {
            Py_buffer *v = &views[nviews];
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(bufs, b), v, PyBUF_SIMPLE) < 0) {
                goto done;
            }
            nviews++;
            spans[si].p = (const uint8_t *)v->buf;
            spans[si].n = v->len;
            si++;
            job->size += (uint64_t)v->len;
        }
        job->nspans = (Py_ssize_t)(spans + si - job->spans);
        job->total += job->size;
        total_bytes += job->size;
        order[j].size = job->size;
        order[j].idx = j;
    }

    /* Hash. */
    {
        int release = total_bytes >= GIL_RELEASE_MIN;
        PyThreadState *ts = NULL;
#if MD5X_HAVE_AVX2
        if (use_avx2) {
            /* Biggest jobs first, so that the longest ones do not run on alone at the end. */
            qsort(order, (size_t)njobs, sizeof(order_t), cmp_size_desc);
        }
#endif
        if (release) {
            ts = PyEval_SaveThread();
        }
#if MD5X_HAVE_AVX2
        if (use_avx2) {
            run_jobs_avx2(jobs, order, njobs);
        }
        else
#endif
        {
            run_jobs_scalar(jobs, njobs);
        }
        /* Write back every state only now (a state may be another job's input). */
        for (Py_ssize_t j = 0; j < njobs; j++) {
            uint8_t *s = jobs[j].state;
            memcpy(s + OFF_H, jobs[j].h, sizeof(jobs[j].h));
            memcpy(s + OFF_TOTAL, &jobs[j].total, sizeof(jobs[j].total));
            memcpy(s + OFF_PEND, jobs[j].pend, jobs[j].npend);
            s[OFF_NPEND] = (uint8_t)jobs[j].npend;
        }
        if (release) {
            PyEval_RestoreThread(ts);
        }
    }
    result = Py_None;
    Py_INCREF(result);

done:
    for (Py_ssize_t i = 0; i < nviews; i++) {
        PyBuffer_Release(&views[i]);
    }
    if (bufseqs != NULL) {
        for (Py_ssize_t j = 0; j < njobs; j++) {
            Py_XDECREF(bufseqs[j]);
        }
    }
    PyMem_Free(bufseqs);
    PyMem_Free(views);
    PyMem_Free(jobs);
    PyMem_Free(spans);
    PyMem_Free(order);
    PyMem_Free(ptrs);
    Py_XDECREF(jobs_seq);
    return result;
}

static PyMethodDef md5x_methods[] = {
    {"new", md5x_new, METH_NOARGS, new_doc},
    {"update", md5x_update, METH_O, update_doc},
    {"digest", md5x_digest, METH_O, digest_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(module_doc,
             "Multi-buffer MD5: many independent MD5 streams hashed together across SIMD "
             "lanes.\n\n"
             "new() makes a state, update([(state, [buffer, ...]), ...]) feeds several states\n"
             "at once, digest(state) gives one state's MD5. BACKEND names the compression in\n"
             "use (\"avx2\" or \"scalar\"), LANES its width. SHOAL_MD5X_SCALAR=1 in the\n"
             "environment at import forces the scalar backend.");

static struct PyModuleDef md5x_module = {
    PyModuleDef_HEAD_INIT, "shoal._md5x", module_doc, -1, md5x_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__md5x(void)
{
    PyObject *m = PyModule_Create(&md5x_module);
    if (m == NULL) {
        return NULL;
    }
    use_avx2 = 0;
#if MD5X_HAVE_AVX2
    {
        const char *force = getenv("SHOAL_MD5X_SCALAR");
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && !(force != NULL && force[0] != '\0' &&
                                                strcmp(force, "0") != 0)) {
            use_avx2 = 1;
            md5_k8_init();
        }
    }
#endif
    if (PyModule_AddIntConstant(m, "STATE_SIZE", STATE_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "LANES", use_avx2 ? MAX_LANES : 1) < 0 ||
        PyModule_AddStringConstant(m, "BACKEND", use_avx2 ? "avx2" : "scalar") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
