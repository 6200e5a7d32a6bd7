;; Loads whose value is never used must still trap when out of bounds (issue 10's `dead2`):
;; LLVM deletes an unused non-volatile load, and with guard pages the access is the check.
;; call dead_local_set 100000
;; call dead_local_set 8
;; call dropped 100000
;; call left_by_br 100000
;; call left_by_return 100000
;; call before_unreachable 100000
;; call unused_chain 100000
;; call unused_chain 65532
;; call unused_chain 8
;; call in_dead_select 70000
(module
  (memory 1)
  (func (export "dead_local_set") (param i32) (result i32) (local i32)
    (local.set 1 (i32.load (local.get 0)))
    (i32.const 7))
  (func (export "dropped") (param i32) (result i32)
    (drop (i64.load (local.get 0)))
    (i32.const 7))
  (func (export "left_by_br") (param i32) (result i32)
    (block (result i32)
      (i32.const 7)
      (f32.load (local.get 0))
      (br 1 (i32.const 7))))
  (func (export "left_by_return") (param i32) (result i32)
    (i32.load8_u (local.get 0))
    (return (i32.const 7)))
  (func (export "before_unreachable") (param i32) (result i32)
    (f64.load (local.get 0))
    (unreachable))
  (func (export "unused_chain") (param i32) (result i32) (local i64)
    ;; the i64 chain's result ends in a dead local
    (local.set 1 (i64.mul (i64.load (local.get 0)) (i64.extend_i32_u (i32.load16_s offset=2 (local.get 0)))))
    (i32.const 7))
  (func (export "in_dead_select") (param i32) (result i32)
    (select (i32.const 7) (i32.load (local.get 0)) (i32.const 1))))
