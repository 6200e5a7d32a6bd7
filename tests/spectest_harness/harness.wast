;; The 3.0 judging rules of scripts/spectest.py, end to end: tests/test_spectest.py converts this
;; script with `wasm-tools json-from-wast`, runs it and checks every command's outcome against
;; the mark on the command's first line: pass, FAIL, skip, or "pass once exceptions land" (a
;; pass when runner.errors.WasmException exists, a failure before).

;; module_definition + module_instance: instances are generative, register shares by reference.
(module definition $D                                                   ;; pass
  (global (export "g") (mut i32) (i32.const 7))
  (func (export "get") (result i32) (global.get 0)))
(module instance $I1 $D)                                                ;; pass
(module instance $I2 $D)                                                ;; pass
(register "I1" $I1)                                                     ;; pass
(module                                                                 ;; pass
  (import "I1" "g" (global $g (mut i32)))
  (func (export "set") (param i32) (global.set $g (local.get 0))))
(invoke "set" (i32.const 9))                                            ;; pass
(assert_return (invoke $I1 "get") (i32.const 9))                        ;; pass
(assert_return (invoke $I2 "get") (i32.const 7))                        ;; pass
(assert_return (invoke $I2 "get") (i32.const 9))                        ;; FAIL

;; either: any one alternative, each judged as usual (v128 lanes, NaN patterns).
(module                                                                 ;; pass
  (func (export "v") (result v128) (v128.const i32x4 1 2 3 4))
  (func (export "nan") (result f32) (f32.const nan:0x600000))
  (func (export "i") (result i32) (i32.const 5)))
(assert_return (invoke "v") (either (v128.const i32x4 0 0 0 0) (v128.const i32x4 1 2 3 4)))          ;; pass
(assert_return (invoke "v") (either (v128.const i32x4 0 0 0 0) (v128.const i16x8 1 0 2 0 3 0 4 0)))  ;; pass
(assert_return (invoke "v") (either (v128.const i32x4 0 0 0 0) (v128.const i32x4 1 2 3 5)))          ;; FAIL
(assert_return (invoke "nan") (either (f32.const 0) (f32.const nan:arithmetic)))                     ;; pass
(assert_return (invoke "nan") (either (f32.const 0) (f32.const nan:canonical)))                      ;; FAIL
(assert_return (invoke "i") (either (i32.const 4) (i32.const 5) (i32.const 6)))                      ;; pass
(assert_return (invoke "i") (either (i64.const 5)))                                                  ;; FAIL
(assert_return (invoke "i") (ref.null any))                                                          ;; skip
(assert_exception (invoke "i"))                                                                      ;; FAIL

;; references: (ref.func) is any non-null funcref, (ref.null) any null, ref.extern N by identity.
(module                                                                 ;; pass
  (func $f)
  (elem declare func $f)
  (func (export "func") (result funcref) (ref.func $f))
  (func (export "null") (result funcref) (ref.null func))
  (func (export "ext") (param externref) (result externref) (local.get 0)))
(assert_return (invoke "func") (ref.func))                              ;; pass
(assert_return (invoke "func") (ref.null func))                         ;; FAIL
(assert_return (invoke "null") (ref.null func))                         ;; pass
(assert_return (invoke "null") (ref.null))                              ;; pass
(assert_return (invoke "null") (ref.func))                              ;; FAIL
(assert_return (invoke "ext" (ref.extern 1)) (ref.extern 1))            ;; pass
(assert_return (invoke "ext" (ref.extern 1)) (ref.extern 2))            ;; FAIL
(assert_return (invoke "ext" (ref.extern 1)) (ref.extern))              ;; pass
(assert_return (invoke "ext" (ref.null extern)) (ref.null extern))      ;; pass
(assert_return (invoke "ext" (ref.null extern)) (ref.null func))        ;; FAIL

;; A text module that wasm-tools could encode is judged on its binary; text assertions skip.
(module quote "(func (export \"q\") (result i32) (i32.const 3))")      ;; pass
(assert_return (invoke "q") (i32.const 3))                              ;; pass
(assert_malformed (module quote "(func (i32.const 0x))") "unknown operator")   ;; skip

;; assert_exception: an uncaught wasm exception, not a trap and not a return.
(module                                                                 ;; pass once exceptions land
  (tag $e (param i32))
  (func (export "throw") (throw $e (i32.const 1)))
  (func (export "trap") unreachable))
(assert_exception (invoke "throw"))                                     ;; pass once exceptions land
(assert_exception (invoke "trap"))                                      ;; FAIL
(assert_trap (invoke "throw") "unreachable")                            ;; FAIL

;; A failed module fails what needs it -- with its error as the cause -- and a link against the
;; name it was to be registered under is not judged by accident.
(module                                                                 ;; FAIL
  (func (export "h") (result i32) (i32.const 1))
  (func $s unreachable)
  (start $s))
(assert_return (invoke "h") (i32.const 1))                              ;; FAIL
(register "F")                                                          ;; FAIL
(assert_unlinkable (module (import "F" "nope" (func))) "unknown import")       ;; FAIL

;; GC inside a non-GC script: the module and everything that needs it are skipped.
(module                                                                 ;; skip
  (type $s (struct))
  (func (export "f") (result i32) (i32.const 1)))
(assert_return (invoke "f") (i32.const 1))                              ;; skip
(register "G")                                                          ;; skip
(module (import "G" "f" (func (result i32))))                           ;; skip
