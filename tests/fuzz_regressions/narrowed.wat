;; An access is all its bytes: a load whose value is only partly used (wrap, mask, one
;; lane) must still trap when its last byte is out of bounds; LLVM narrows such loads.
;; call wrap 65532
;; call wrap 65528
;; call low_byte 65533
;; call high_half 65532
;; call lane0 65520
;; call lane0 65528
;; call load64_lane 65530
(module
  (memory 1)
  (func (export "wrap") (param i32) (result i32)
    (i32.wrap_i64 (i64.load (local.get 0))))
  (func (export "low_byte") (param i32) (result i32)
    (i32.and (i32.load (local.get 0)) (i32.const 255)))
  (func (export "high_half") (param i32) (result i32)
    (i32.wrap_i64 (i64.shr_u (i64.load (local.get 0)) (i64.const 32))))
  (func (export "lane0") (param i32) (result i32)
    (i32x4.extract_lane 0 (v128.load (local.get 0))))
  (func (export "load64_lane") (param i32) (result i64)
    (i64x2.extract_lane 0 (v128.load64_zero (local.get 0)))))
