;; Accesses an earlier access proved in bounds are plain loads and stores (runner/translate/
;; bounds.py): LLVM may delete a plain load whose value is unused, so each case here drops
;; the value of an access that must still trap because the proof does not reach it — a
;; loop's later iteration, the other arm of an if, a block's end reached by a branch, a local
;; assigned in between, an address past the minimum size — and the stores around it.
;; call loop_reassigned 65000
;; call loop_reassigned 0
;; call if_else 1 100000
;; call if_else 0 100000
;; call if_else 0 8
;; call block_branch 1 100000
;; call block_branch 0 100000
;; call tee_between 0 100000
;; call set_between 0 65536
;; call constants 0
;; call constants 1
;; call constants 2
;; call constants 3
;; call covered_store 0 100000
;; call covered_store 0 16
;; call covered_narrow 65532
;; call covered_narrow 65528
(module
  (memory 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (export "mem" (memory 0))
  ;; p is read before the loop, then grows by 256 bytes per iteration: the read inside
  ;; the loop is proved only on the first iteration.
  (func (export "loop_reassigned") (param $p i32) (result i32)
    (local $n i32)
    (drop (i32.load (local.get $p)))
    (loop $l
      (drop (i32.load (local.get $p)))
      (i32.store (i32.const 0) (local.get $n))
      (local.set $p (i32.add (local.get $p) (i32.const 256)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $n) (i32.const 10))))
    (local.get $n))
  (func (export "if_else") (param $c i32) (param $p i32) (result i32)
    (if (local.get $c)
      (then (drop (i64.load (local.get $p))) (global.set $g (i32.const 1)))
      (else (global.set $g (i32.const 2)) (drop (i64.load (local.get $p)))))
    (global.set $g (i32.const 3))
    (drop (i64.load (local.get $p)))
    (i32.const 9))
  (func (export "block_branch") (param $c i32) (param $p i32) (result i32)
    (block $b
      (br_if $b (local.get $c))
      (drop (i32.load offset=100 (local.get $p))))
    (global.set $g (i32.const 4))
    (drop (i32.load offset=100 (local.get $p)))
    (i32.const 5))
  (func (export "tee_between") (param $x i32) (param $p i32) (result i32)
    (drop (i32.load (local.get $x)))
    (drop (local.tee $x (local.get $p)))
    (global.set $g (i32.const 6))
    (drop (i32.load (local.get $x)))
    (i32.const 1))
  (func (export "set_between") (param $x i32) (param $p i32) (result i32)
    (drop (i32.load8_u (local.get $x)))
    (local.set $x (local.get $p))
    (global.set $g (i32.const 7))
    (drop (i32.load8_u (local.get $x)))
    (i32.const 1))
  (func (export "constants") (param $k i32) (result i32)
    (i32.store (i32.const 100) (local.get $k))
    (if (i32.eq (local.get $k) (i32.const 0)) (then (drop (i32.load (i32.const 65532)))))
    (if (i32.eq (local.get $k) (i32.const 1)) (then (drop (i32.load (i32.const 65533)))))
    (if (i32.eq (local.get $k) (i32.const 2)) (then (drop (i32.load (i32.const -4)))))
    (if (i32.eq (local.get $k) (i32.const 3)) (then (drop (i32.load offset=65535 (i32.const 1)))))
    (i32.store (i32.const 104) (local.get $k))
    (local.get $k))
  ;; the store to p is proved by the load before it, but must not happen before q traps
  (func (export "covered_store") (param $p i32) (param $q i32)
    (drop (i32.load (local.get $p)))
    (i32.store (local.get $q) (i32.const 5))
    (i32.store (local.get $p) (i32.const 7))
    (i32.store offset=4 (local.get $p) (i32.const 8)))
  ;; a proved access that LLVM may narrow is harmless; the wider one after it is not proved
  (func (export "covered_narrow") (param $p i32) (result i32)
    (drop (i32.load (local.get $p)))
    (i32.store (i32.const 0) (i32.const 1))
    (drop (i32.load8_u offset=3 (local.get $p)))
    (i32.store (i32.const 0) (i32.const 2))
    (drop (i64.load (local.get $p)))
    (i32.store (i32.const 0) (i32.const 3))
    (i32.const 0)))
