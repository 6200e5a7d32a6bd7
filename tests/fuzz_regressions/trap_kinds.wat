;; One call per trap kind: the kinds must match wasmtime's trap codes, and the text
;; (str(Trap), what the CLI prints) wasmtime's wording; "stack" is not compared by the
;; fuzzer (wasmtime's stack is smaller), only its wording.
;; call unreachable
;; call memory
;; call table
;; call call_oob
;; call call_null
;; call call_sig
;; call div0
;; call overflow
;; call conversion
(module (memory 1) (table 2 funcref) (type $t (func (param i32)))
  (func $f)
  (elem (i32.const 0) $f)
  (func (export "unreachable") unreachable)
  (func (export "memory") (drop (i32.load (i32.const 70000))))
  (func (export "table") (drop (table.get 0 (i32.const 5))))
  (func (export "call_oob") (call_indirect (i32.const 5)))
  (func (export "call_null") (call_indirect (i32.const 1)))
  (func (export "call_sig") (call_indirect (type $t) (i32.const 0) (i32.const 0)))
  (func (export "div0") (drop (i32.div_s (i32.const 1) (i32.const 0))))
  (func (export "overflow") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
  (func (export "conversion") (drop (i32.trunc_f32_s (f32.const nan))))
  (func $r (export "stack") (call $r)))
