/* A freestanding C program (no libc: there is no wasm64 WASI libc) built for both wasm32 and
 * wasm64 (memory64) by tests/test_memory64.py: the same source on a 32-bit memory, guarded by
 * guard pages, and on a 64-bit one, with explicit bounds checks. */
typedef unsigned long size_t;   /* 32 or 64 bits, as the target's pointers */

extern unsigned char __heap_base;

static unsigned *array(void) { return (unsigned *)&__heap_base; }

/* Fill n words with a hash sequence, then sum them (xor'ed with the round) `rounds` times:
 * the loop whose per-access cost the bench compares. */
unsigned long long sum_rounds(size_t n, unsigned rounds) {
    unsigned *a = array();
    for (size_t i = 0; i < n; i++)
        a[i] = (unsigned)i * 2654435761u;
    unsigned long long s = 0;
    for (unsigned r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++)
            s += a[i] ^ r;
    return s;
}

static void sort(unsigned *a, long lo, long hi) {
    while (lo < hi) {
        unsigned p = a[(lo + hi) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) { unsigned t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { sort(a, lo, j); lo = i; } else { sort(a, i, hi); hi = j; }
    }
}

/* Sort n pseudo-random words in place; return a checksum of the sorted order. */
unsigned long long sort_check(size_t n) {
    unsigned *a = array();
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; a[i] = x; }
    sort(a, 0, (long)n - 1);
    unsigned long long h = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && a[i - 1] > a[i]) return 0;
        h = h * 31 + a[i];
    }
    return h;
}

/* Address of the array: where the program's data ends (a wasm64 pointer is an i64). */
size_t heap_base(void) { return (size_t)&__heap_base; }
