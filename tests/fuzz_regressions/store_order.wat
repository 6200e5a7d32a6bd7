;; What a trap leaves behind: the stores before a faulting access happened, the ones after
;; it did not.  LLVM may delete a store that a later store overwrites (DSE), merge adjacent
;; stores into one wider store, or hoist a loop-invariant load above the loop's stores.
;; call overwritten 16 100000
;; call overwritten 16 8
;; call global_between 100000
;; call merged 65532
;; call merged 65528
;; call hoisted 0 100000 4
;; call hoisted 0 100 4
;; call dead_store_then_trap 16 100000
;; call hoisted_past_global 100000 3
;; call hoisted_past_global 100 3
;; call hoisted_past_constant_store 3
(module
  (memory 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (export "mem" (memory 0))
  (func (export "overwritten") (param $p i32) (param $q i32) (result i32)
    (i32.store (local.get $p) (i32.const 1))
    (drop (i32.load (local.get $q)))
    (i32.store (local.get $p) (i32.const 2))
    (i32.const 7))
  (func (export "global_between") (param $p i32)
    (i32.store (local.get $p) (i32.const 1))
    (global.set $g (i32.const 5))
    (i32.store (local.get $p) (i32.const 2)))
  (func (export "merged") (param $p i32)
    (i32.store (local.get $p) (i32.const 0x11111111))
    (i32.store offset=4 (local.get $p) (i32.const 0x22222222)))
  (func (export "hoisted") (param $p i32) (param $q i32) (param $n i32) (result i32) (local $s i32)
    (loop $l
      (i32.store (local.get $p) (local.get $n))
      (local.set $s (i32.add (local.get $s) (i32.load (local.get $q))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $s))
  (func (export "dead_store_then_trap") (param $p i32) (param $q i32)
    (i32.store (local.get $p) (i32.const 3))
    (i32.store (local.get $q) (i32.const 4))
    (i32.store (local.get $p) (i32.const 5)))
  (func (export "hoisted_past_global") (param $q i32) (param $n i32) (result i32) (local $s i32)
    ;; wasm-smith's fuel global has this shape: set in the loop before an invariant load
    (loop $l
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (local.set $s (i32.add (local.get $s) (i32.load (local.get $q))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $s))
  (func (export "hoisted_past_constant_store") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (i32.store (i32.const 16) (local.get $n))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.const 70000))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $s)))
