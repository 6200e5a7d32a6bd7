;; f64x2.promote_low_f32x4 of f32x4.demote_f64x2_zero: only two lanes of the demote are
;; used, and LLVM narrowed its NaN-quieting canonicalize to a v2f32 one that x86 cannot
;; select (LLVM aborted at -O2).  A signalling NaN must come out quiet, as in wasmtime.
;; call round_trip 0x7ff40000000000000000000000000001
;; call round_trip 0x3ff00000000000007ff4000000000000
;; call into_global 0x7ff40000000000007ff4000000000000
(module
  (global $g (export "g") (mut v128) (v128.const i64x2 0 0))
  (func (export "round_trip") (param v128) (result v128)
    (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (local.get 0))))
  (func (export "into_global") (param v128)
    (global.set $g (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (local.get 0))))))
