/* A SIMD workout for tests/test_simd.py: built with zig cc -msimd128, run under wasirun
 * and wasmtime, stdout compared.  Every result is printed as raw lane bits. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <wasm_simd128.h>

static float fa[256], fb[256];
static double da[64];
static int32_t ia[256];
static uint8_t bytes[64];
static int16_t shorts[64];

static void show(const char *what, v128_t v) {
    printf("%-12s %016llx%016llx\n", what, (unsigned long long)wasm_i64x2_extract_lane(v, 1),
           (unsigned long long)wasm_i64x2_extract_lane(v, 0));
}

static void floats(void) {
    v128_t acc = wasm_f32x4_splat(0.0f), mx = wasm_f32x4_splat(-1e30f);
    for (int i = 0; i < 256; i += 4) {
        v128_t x = wasm_v128_load(fa + i), y = wasm_v128_load(fb + i);
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(x, y));
        mx = wasm_f32x4_max(mx, wasm_f32x4_sqrt(wasm_f32x4_abs(x)));
    }
    show("f32 dot", acc);
    show("f32 max", mx);
    v128_t nan = wasm_f32x4_make(NAN, -0.0f, 0.0f, 1.0f), zero = wasm_f32x4_make(1.0f, 0.0f, -0.0f, NAN);
    show("f32 min", wasm_f32x4_min(nan, zero));
    show("f32 max0", wasm_f32x4_max(nan, zero));
    show("f32 pmin", wasm_f32x4_pmin(nan, zero));
    show("f32 pmax", wasm_f32x4_pmax(nan, zero));
    v128_t f = wasm_f32x4_make(1.5f, -2.5f, 3e9f, -0.0f);
    show("trunc_sat", wasm_i32x4_trunc_sat_f32x4(f));
    show("trunc_sat_u", wasm_u32x4_trunc_sat_f32x4(f));
    show("nearest", wasm_f32x4_nearest(f));
    show("ceil", wasm_f32x4_ceil(f));
    show("floor", wasm_f32x4_floor(f));
    show("div", wasm_f32x4_div(f, wasm_f32x4_splat(3.0f)));
    show("f32 lt", wasm_f32x4_lt(f, nan));
    show("convert", wasm_f32x4_convert_i32x4(wasm_i32x4_make(-7, 16777217, 3, -2147483647)));
    show("convert_u", wasm_f32x4_convert_u32x4(wasm_i32x4_make(-7, 16777217, 3, -2147483647)));
    v128_t d = wasm_f64x2_make(1e300, -3.25);
    for (int i = 0; i < 64; i += 2)
        d = wasm_f64x2_add(wasm_f64x2_mul(d, wasm_v128_load(da + i)), wasm_f64x2_splat(0.125));
    show("f64 madd", d);
    show("demote", wasm_f32x4_demote_f64x2_zero(d));
    show("promote", wasm_f64x2_promote_low_f32x4(f));
    show("f64 cvt", wasm_f64x2_convert_low_i32x4(wasm_i32x4_make(-5, 7, 9, 11)));
    show("f64 trunc", wasm_i32x4_trunc_sat_f64x2_zero(wasm_f64x2_make(-1e20, 42.9)));
    show("f64 minmax", wasm_f64x2_min(wasm_f64x2_max(d, wasm_f64x2_splat(-0.0)), wasm_f64x2_splat(1e10)));
}

static void integers(void) {
    v128_t h = wasm_i32x4_splat(0);
    for (int i = 0; i < 256; i += 4) {
        v128_t v = wasm_v128_load(ia + i);
        h = wasm_i32x4_add(wasm_i32x4_shl(h, 1), wasm_v128_xor(v, wasm_u32x4_shr(v, 7)));
        h = wasm_i32x4_max(h, wasm_i32x4_sub(h, v));
        h = wasm_v128_bitselect(h, wasm_i32x4_mul(h, v), wasm_i32x4_gt(v, h));
    }
    show("i32 hash", h);
    v128_t s16 = wasm_i16x8_splat(0);
    for (int i = 0; i < 64; i += 8) {
        v128_t v = wasm_v128_load(shorts + i);
        s16 = wasm_i16x8_add_sat(s16, wasm_i16x8_q15mulr_sat(v, wasm_i16x8_splat(-32768)));
        s16 = wasm_i16x8_sub(s16, wasm_i16x8_abs(wasm_i16x8_min(v, s16)));
        s16 = wasm_u16x8_avgr(s16, wasm_u16x8_shr(v, 3));
    }
    show("i16 mix", s16);
    show("narrow", wasm_i8x16_narrow_i16x8(s16, wasm_i16x8_shl(s16, 9)));
    show("narrow_u", wasm_u8x16_narrow_i16x8(s16, wasm_i16x8_neg(s16)));
    show("extmul", wasm_i32x4_extmul_high_i16x8(s16, s16));
    show("extmul_u", wasm_u64x2_extmul_low_u32x4(h, h));
    show("extadd", wasm_i32x4_extadd_pairwise_i16x8(s16));
    show("dot", wasm_i32x4_dot_i16x8(s16, wasm_i16x8_splat(3)));
    show("i64 ops", wasm_i64x2_sub(wasm_i64x2_mul(h, h), wasm_i64x2_shr(h, 67)));
    show("i64 cmp", wasm_i64x2_lt(h, wasm_i64x2_neg(h)));
    unsigned sum = 0;
    for (int i = 0; i < 64; i += 16) {
        v128_t v = wasm_v128_load(bytes + i);
        v128_t s = wasm_u8x16_add_sat(v, wasm_u8x16_splat(100));
        v128_t sh = wasm_i8x16_shuffle(s, v, 15, 14, 13, 12, 11, 10, 9, 8, 23, 22, 21, 20, 19, 18, 17, 16);
        v128_t w = wasm_u16x8_extend_low_u8x16(sh);
        sum += wasm_i8x16_bitmask(wasm_i8x16_gt(sh, wasm_i8x16_splat(0))) + wasm_u16x8_extract_lane(w, 5)
             + wasm_i32x4_extract_lane(wasm_i32x4_dot_i16x8(w, w), 2);
        show("swizzle", wasm_i8x16_swizzle(v, wasm_u8x16_make(0, 3, 17, 255, 15, 16, 2, 1, 9, 9, 9, 128, 4, 5, 6, 7)));
        show("popcnt", wasm_i8x16_popcnt(v));
        show("u8 minmax", wasm_u8x16_max(wasm_u8x16_min(v, s), wasm_u8x16_sub_sat(v, s)));
        sum += wasm_v128_any_true(wasm_v128_and(v, wasm_i8x16_splat(1))) * 3 + wasm_i8x16_all_true(v) * 5
             + wasm_i16x8_all_true(w) * 7 + wasm_i32x4_bitmask(v) + wasm_i64x2_bitmask(v) * 11;
    }
    printf("sum %u\n", sum);
}

static void memory(void) {
    v128_t v = wasm_v128_load8_splat(bytes + 5);
    v = wasm_v128_load16_lane(shorts + 3, v, 6);
    v = wasm_v128_load32_lane(ia + 9, v, 1);
    show("lanes", v);
    show("load64_zero", wasm_v128_load64_zero(ia + 17));
    show("load32_splat", wasm_v128_load32_splat(fa + 7));
    show("load8x8_s", wasm_i16x8_load8x8(bytes + 3));
    show("load32x2_u", wasm_u64x2_load32x2(ia + 5));
    wasm_v128_store8_lane(bytes + 1, v, 15);
    wasm_v128_store64_lane(da + 3, v, 1);
    wasm_v128_store(bytes + 33, wasm_v128_load(bytes + 1));
    show("stored", wasm_v128_load(bytes + 30));
    printf("replace %d %u\n", wasm_i16x8_extract_lane(wasm_i16x8_replace_lane(v, 2, -3), 2),
           wasm_u8x16_extract_lane(wasm_u8x16_replace_lane(v, 0, 200), 0));
}

int main(void) {
    for (int i = 0; i < 256; i++) {
        fa[i] = (float)i * 0.5f - 20.0f;
        fb[i] = (float)(i % 7) - 3.0f;
        ia[i] = (int32_t)(i * 2654435761u);
    }
    for (int i = 0; i < 64; i++) {
        bytes[i] = (uint8_t)(i * 37 + 11);
        shorts[i] = (int16_t)(i * 2237 - 40000);
        da[i] = 1.0 + i / 64.0;
    }
    floats();
    integers();
    memory();
    return 0;
}
