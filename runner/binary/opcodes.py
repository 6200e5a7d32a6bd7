"""THE opcode table: every WebAssembly instruction wasirun decodes, listed once.

Each row is ``(code, name, immediate kind[, stack effect[, n]])``, as wasmparser's operator
table: the decoder reads the immediates by their kind, the validator checks the stack effect.
Prefixed instructions get the code ``0xFC00 + subopcode`` (``0xFD00 + subopcode`` for SIMD, up
to ``0xFD00 + 0x113``: see ``is_simd``).

The stack effect is ``"pops -> pushes"``, value types with the last popped on top; ``addr`` is
the address type of the instruction's memory (i64 for memory64).  ``n`` is the bytes a load or
store accesses (its natural alignment) or the lane count of a lane immediate.  A row without a
stack effect (control, locals, globals, references, tables, bulk memory, exceptions, tail
calls) has a rule of its own: the validator's method of the same name (runner/validate.py).
``OPERATORS`` holds the rows parsed, by code; the decoder, the validator and the translator
build their dispatch tables from it.
"""
from __future__ import annotations

from typing import NamedTuple

# Immediate kinds.
NONE = "none"
BLOCKTYPE = "blocktype"        # block/loop/if: an s33 (type index) or a value type or 0x40
LABEL = "label"                # br, br_if
BR_TABLE = "br_table"          # vec(label) label
FUNC = "func"                  # call, ref.func
CALL_INDIRECT = "call_indirect"  # type index, table index
LOCAL = "local"
GLOBAL = "global"
TABLE = "table"                # table.get/set/size/grow/fill
MEMARG = "memarg"              # MemArg(align, offset, memory, lane=None)
MEMIDX = "memidx"              # memory.size/grow/fill: a memory index
I32 = "i32"
I64 = "i64"
F32 = "f32"
F64 = "f64"
SELECT_T = "select_t"          # vec(valtype)
HEAPTYPE = "heaptype"          # ref.null: a heap type (HT_* code or type index)
MEMORY_INIT = "memory.init"    # (data index, memory index)
MEMORY_COPY = "memory.copy"    # (destination memory, source memory)
DATA = "data"                  # data.drop
TABLE_INIT = "table.init"      # elem index, table index
ELEM = "elem"                  # elem.drop
TABLE_COPY = "table.copy"      # dst table, src table
V128_CONST = "v128.const"      # 16 bytes, little-endian
SHUFFLE = "shuffle"            # 16 lane index bytes
LANE = "lane"                  # one lane index byte
MEMARG_LANE = "memarg_lane"    # MemArg(align, offset, memory, lane)
TAG = "tag"                    # throw: a tag index
TRY_TABLE = "try_table"        # TryTable(blocktype, catches)
TYPE = "type"                  # call_ref, return_call_ref: a type index

OPCODES: list[tuple] = [
    # --- control ---
    (0x00, "unreachable", NONE),
    (0x01, "nop", NONE),
    (0x02, "block", BLOCKTYPE),
    (0x03, "loop", BLOCKTYPE),
    (0x04, "if", BLOCKTYPE),
    (0x05, "else", NONE),
    (0x0B, "end", NONE),
    (0x0C, "br", LABEL),
    (0x0D, "br_if", LABEL),
    (0x0E, "br_table", BR_TABLE),
    (0x0F, "return", NONE),
    (0x10, "call", FUNC),
    (0x11, "call_indirect", CALL_INDIRECT),
    # --- tail calls, typed function references, exceptions (3.0) ---
    (0x12, "return_call", FUNC),
    (0x13, "return_call_indirect", CALL_INDIRECT),
    (0x14, "call_ref", TYPE),
    (0x15, "return_call_ref", TYPE),
    (0x08, "throw", TAG),
    (0x0A, "throw_ref", NONE),
    (0x1F, "try_table", TRY_TABLE),
    # --- reference ---
    (0xD0, "ref.null", HEAPTYPE),
    (0xD1, "ref.is_null", NONE),
    (0xD2, "ref.func", FUNC),
    (0xD4, "ref.as_non_null", NONE),
    (0xD5, "br_on_null", LABEL),
    (0xD6, "br_on_non_null", LABEL),
    # --- parametric ---
    (0x1A, "drop", NONE),
    (0x1B, "select", NONE),
    (0x1C, "select_t", SELECT_T),
    # --- variables ---
    (0x20, "local.get", LOCAL),
    (0x21, "local.set", LOCAL),
    (0x22, "local.tee", LOCAL),
    (0x23, "global.get", GLOBAL),
    (0x24, "global.set", GLOBAL),
    # --- table ---
    (0x25, "table.get", TABLE),
    (0x26, "table.set", TABLE),
    # --- memory ---
    (0x28, "i32.load", MEMARG, "addr -> i32", 4),
    (0x29, "i64.load", MEMARG, "addr -> i64", 8),
    (0x2A, "f32.load", MEMARG, "addr -> f32", 4),
    (0x2B, "f64.load", MEMARG, "addr -> f64", 8),
    (0x2C, "i32.load8_s", MEMARG, "addr -> i32", 1),
    (0x2D, "i32.load8_u", MEMARG, "addr -> i32", 1),
    (0x2E, "i32.load16_s", MEMARG, "addr -> i32", 2),
    (0x2F, "i32.load16_u", MEMARG, "addr -> i32", 2),
    (0x30, "i64.load8_s", MEMARG, "addr -> i64", 1),
    (0x31, "i64.load8_u", MEMARG, "addr -> i64", 1),
    (0x32, "i64.load16_s", MEMARG, "addr -> i64", 2),
    (0x33, "i64.load16_u", MEMARG, "addr -> i64", 2),
    (0x34, "i64.load32_s", MEMARG, "addr -> i64", 4),
    (0x35, "i64.load32_u", MEMARG, "addr -> i64", 4),
    (0x36, "i32.store", MEMARG, "addr i32 ->", 4),
    (0x37, "i64.store", MEMARG, "addr i64 ->", 8),
    (0x38, "f32.store", MEMARG, "addr f32 ->", 4),
    (0x39, "f64.store", MEMARG, "addr f64 ->", 8),
    (0x3A, "i32.store8", MEMARG, "addr i32 ->", 1),
    (0x3B, "i32.store16", MEMARG, "addr i32 ->", 2),
    (0x3C, "i64.store8", MEMARG, "addr i64 ->", 1),
    (0x3D, "i64.store16", MEMARG, "addr i64 ->", 2),
    (0x3E, "i64.store32", MEMARG, "addr i64 ->", 4),
    (0x3F, "memory.size", MEMIDX),
    (0x40, "memory.grow", MEMIDX),
    # --- constants ---
    (0x41, "i32.const", I32, "-> i32"),
    (0x42, "i64.const", I64, "-> i64"),
    (0x43, "f32.const", F32, "-> f32"),
    (0x44, "f64.const", F64, "-> f64"),
    # --- i32 comparisons ---
    (0x45, "i32.eqz", NONE, "i32 -> i32"),
    (0x46, "i32.eq", NONE, "i32 i32 -> i32"),
    (0x47, "i32.ne", NONE, "i32 i32 -> i32"),
    (0x48, "i32.lt_s", NONE, "i32 i32 -> i32"),
    (0x49, "i32.lt_u", NONE, "i32 i32 -> i32"),
    (0x4A, "i32.gt_s", NONE, "i32 i32 -> i32"),
    (0x4B, "i32.gt_u", NONE, "i32 i32 -> i32"),
    (0x4C, "i32.le_s", NONE, "i32 i32 -> i32"),
    (0x4D, "i32.le_u", NONE, "i32 i32 -> i32"),
    (0x4E, "i32.ge_s", NONE, "i32 i32 -> i32"),
    (0x4F, "i32.ge_u", NONE, "i32 i32 -> i32"),
    # --- i64 comparisons ---
    (0x50, "i64.eqz", NONE, "i64 -> i32"),
    (0x51, "i64.eq", NONE, "i64 i64 -> i32"),
    (0x52, "i64.ne", NONE, "i64 i64 -> i32"),
    (0x53, "i64.lt_s", NONE, "i64 i64 -> i32"),
    (0x54, "i64.lt_u", NONE, "i64 i64 -> i32"),
    (0x55, "i64.gt_s", NONE, "i64 i64 -> i32"),
    (0x56, "i64.gt_u", NONE, "i64 i64 -> i32"),
    (0x57, "i64.le_s", NONE, "i64 i64 -> i32"),
    (0x58, "i64.le_u", NONE, "i64 i64 -> i32"),
    (0x59, "i64.ge_s", NONE, "i64 i64 -> i32"),
    (0x5A, "i64.ge_u", NONE, "i64 i64 -> i32"),
    # --- float comparisons ---
    (0x5B, "f32.eq", NONE, "f32 f32 -> i32"),
    (0x5C, "f32.ne", NONE, "f32 f32 -> i32"),
    (0x5D, "f32.lt", NONE, "f32 f32 -> i32"),
    (0x5E, "f32.gt", NONE, "f32 f32 -> i32"),
    (0x5F, "f32.le", NONE, "f32 f32 -> i32"),
    (0x60, "f32.ge", NONE, "f32 f32 -> i32"),
    (0x61, "f64.eq", NONE, "f64 f64 -> i32"),
    (0x62, "f64.ne", NONE, "f64 f64 -> i32"),
    (0x63, "f64.lt", NONE, "f64 f64 -> i32"),
    (0x64, "f64.gt", NONE, "f64 f64 -> i32"),
    (0x65, "f64.le", NONE, "f64 f64 -> i32"),
    (0x66, "f64.ge", NONE, "f64 f64 -> i32"),
    # --- i32 arithmetic ---
    (0x67, "i32.clz", NONE, "i32 -> i32"),
    (0x68, "i32.ctz", NONE, "i32 -> i32"),
    (0x69, "i32.popcnt", NONE, "i32 -> i32"),
    (0x6A, "i32.add", NONE, "i32 i32 -> i32"),
    (0x6B, "i32.sub", NONE, "i32 i32 -> i32"),
    (0x6C, "i32.mul", NONE, "i32 i32 -> i32"),
    (0x6D, "i32.div_s", NONE, "i32 i32 -> i32"),
    (0x6E, "i32.div_u", NONE, "i32 i32 -> i32"),
    (0x6F, "i32.rem_s", NONE, "i32 i32 -> i32"),
    (0x70, "i32.rem_u", NONE, "i32 i32 -> i32"),
    (0x71, "i32.and", NONE, "i32 i32 -> i32"),
    (0x72, "i32.or", NONE, "i32 i32 -> i32"),
    (0x73, "i32.xor", NONE, "i32 i32 -> i32"),
    (0x74, "i32.shl", NONE, "i32 i32 -> i32"),
    (0x75, "i32.shr_s", NONE, "i32 i32 -> i32"),
    (0x76, "i32.shr_u", NONE, "i32 i32 -> i32"),
    (0x77, "i32.rotl", NONE, "i32 i32 -> i32"),
    (0x78, "i32.rotr", NONE, "i32 i32 -> i32"),
    # --- i64 arithmetic ---
    (0x79, "i64.clz", NONE, "i64 -> i64"),
    (0x7A, "i64.ctz", NONE, "i64 -> i64"),
    (0x7B, "i64.popcnt", NONE, "i64 -> i64"),
    (0x7C, "i64.add", NONE, "i64 i64 -> i64"),
    (0x7D, "i64.sub", NONE, "i64 i64 -> i64"),
    (0x7E, "i64.mul", NONE, "i64 i64 -> i64"),
    (0x7F, "i64.div_s", NONE, "i64 i64 -> i64"),
    (0x80, "i64.div_u", NONE, "i64 i64 -> i64"),
    (0x81, "i64.rem_s", NONE, "i64 i64 -> i64"),
    (0x82, "i64.rem_u", NONE, "i64 i64 -> i64"),
    (0x83, "i64.and", NONE, "i64 i64 -> i64"),
    (0x84, "i64.or", NONE, "i64 i64 -> i64"),
    (0x85, "i64.xor", NONE, "i64 i64 -> i64"),
    (0x86, "i64.shl", NONE, "i64 i64 -> i64"),
    (0x87, "i64.shr_s", NONE, "i64 i64 -> i64"),
    (0x88, "i64.shr_u", NONE, "i64 i64 -> i64"),
    (0x89, "i64.rotl", NONE, "i64 i64 -> i64"),
    (0x8A, "i64.rotr", NONE, "i64 i64 -> i64"),
    # --- f32 arithmetic ---
    (0x8B, "f32.abs", NONE, "f32 -> f32"),
    (0x8C, "f32.neg", NONE, "f32 -> f32"),
    (0x8D, "f32.ceil", NONE, "f32 -> f32"),
    (0x8E, "f32.floor", NONE, "f32 -> f32"),
    (0x8F, "f32.trunc", NONE, "f32 -> f32"),
    (0x90, "f32.nearest", NONE, "f32 -> f32"),
    (0x91, "f32.sqrt", NONE, "f32 -> f32"),
    (0x92, "f32.add", NONE, "f32 f32 -> f32"),
    (0x93, "f32.sub", NONE, "f32 f32 -> f32"),
    (0x94, "f32.mul", NONE, "f32 f32 -> f32"),
    (0x95, "f32.div", NONE, "f32 f32 -> f32"),
    (0x96, "f32.min", NONE, "f32 f32 -> f32"),
    (0x97, "f32.max", NONE, "f32 f32 -> f32"),
    (0x98, "f32.copysign", NONE, "f32 f32 -> f32"),
    # --- f64 arithmetic ---
    (0x99, "f64.abs", NONE, "f64 -> f64"),
    (0x9A, "f64.neg", NONE, "f64 -> f64"),
    (0x9B, "f64.ceil", NONE, "f64 -> f64"),
    (0x9C, "f64.floor", NONE, "f64 -> f64"),
    (0x9D, "f64.trunc", NONE, "f64 -> f64"),
    (0x9E, "f64.nearest", NONE, "f64 -> f64"),
    (0x9F, "f64.sqrt", NONE, "f64 -> f64"),
    (0xA0, "f64.add", NONE, "f64 f64 -> f64"),
    (0xA1, "f64.sub", NONE, "f64 f64 -> f64"),
    (0xA2, "f64.mul", NONE, "f64 f64 -> f64"),
    (0xA3, "f64.div", NONE, "f64 f64 -> f64"),
    (0xA4, "f64.min", NONE, "f64 f64 -> f64"),
    (0xA5, "f64.max", NONE, "f64 f64 -> f64"),
    (0xA6, "f64.copysign", NONE, "f64 f64 -> f64"),
    # --- conversions ---
    (0xA7, "i32.wrap_i64", NONE, "i64 -> i32"),
    (0xA8, "i32.trunc_f32_s", NONE, "f32 -> i32"),
    (0xA9, "i32.trunc_f32_u", NONE, "f32 -> i32"),
    (0xAA, "i32.trunc_f64_s", NONE, "f64 -> i32"),
    (0xAB, "i32.trunc_f64_u", NONE, "f64 -> i32"),
    (0xAC, "i64.extend_i32_s", NONE, "i32 -> i64"),
    (0xAD, "i64.extend_i32_u", NONE, "i32 -> i64"),
    (0xAE, "i64.trunc_f32_s", NONE, "f32 -> i64"),
    (0xAF, "i64.trunc_f32_u", NONE, "f32 -> i64"),
    (0xB0, "i64.trunc_f64_s", NONE, "f64 -> i64"),
    (0xB1, "i64.trunc_f64_u", NONE, "f64 -> i64"),
    (0xB2, "f32.convert_i32_s", NONE, "i32 -> f32"),
    (0xB3, "f32.convert_i32_u", NONE, "i32 -> f32"),
    (0xB4, "f32.convert_i64_s", NONE, "i64 -> f32"),
    (0xB5, "f32.convert_i64_u", NONE, "i64 -> f32"),
    (0xB6, "f32.demote_f64", NONE, "f64 -> f32"),
    (0xB7, "f64.convert_i32_s", NONE, "i32 -> f64"),
    (0xB8, "f64.convert_i32_u", NONE, "i32 -> f64"),
    (0xB9, "f64.convert_i64_s", NONE, "i64 -> f64"),
    (0xBA, "f64.convert_i64_u", NONE, "i64 -> f64"),
    (0xBB, "f64.promote_f32", NONE, "f32 -> f64"),
    (0xBC, "i32.reinterpret_f32", NONE, "f32 -> i32"),
    (0xBD, "i64.reinterpret_f64", NONE, "f64 -> i64"),
    (0xBE, "f32.reinterpret_i32", NONE, "i32 -> f32"),
    (0xBF, "f64.reinterpret_i64", NONE, "i64 -> f64"),
    # --- sign extension ---
    (0xC0, "i32.extend8_s", NONE, "i32 -> i32"),
    (0xC1, "i32.extend16_s", NONE, "i32 -> i32"),
    (0xC2, "i64.extend8_s", NONE, "i64 -> i64"),
    (0xC3, "i64.extend16_s", NONE, "i64 -> i64"),
    (0xC4, "i64.extend32_s", NONE, "i64 -> i64"),
    # --- 0xFC prefix: saturating truncation ---
    (0xFC00, "i32.trunc_sat_f32_s", NONE, "f32 -> i32"),
    (0xFC01, "i32.trunc_sat_f32_u", NONE, "f32 -> i32"),
    (0xFC02, "i32.trunc_sat_f64_s", NONE, "f64 -> i32"),
    (0xFC03, "i32.trunc_sat_f64_u", NONE, "f64 -> i32"),
    (0xFC04, "i64.trunc_sat_f32_s", NONE, "f32 -> i64"),
    (0xFC05, "i64.trunc_sat_f32_u", NONE, "f32 -> i64"),
    (0xFC06, "i64.trunc_sat_f64_s", NONE, "f64 -> i64"),
    (0xFC07, "i64.trunc_sat_f64_u", NONE, "f64 -> i64"),
    # --- 0xFC prefix: bulk memory and tables ---
    (0xFC08, "memory.init", MEMORY_INIT),
    (0xFC09, "data.drop", DATA),
    (0xFC0A, "memory.copy", MEMORY_COPY),
    (0xFC0B, "memory.fill", MEMIDX),
    (0xFC0C, "table.init", TABLE_INIT),
    (0xFC0D, "elem.drop", ELEM),
    (0xFC0E, "table.copy", TABLE_COPY),
    (0xFC0F, "table.grow", TABLE),
    (0xFC10, "table.size", TABLE),
    (0xFC11, "table.fill", TABLE),
    # --- 0xFD prefix: fixed-width SIMD (v128) ---
    (0xFD00, "v128.load", MEMARG, "addr -> v128", 16),
    (0xFD01, "v128.load8x8_s", MEMARG, "addr -> v128", 8),
    (0xFD02, "v128.load8x8_u", MEMARG, "addr -> v128", 8),
    (0xFD03, "v128.load16x4_s", MEMARG, "addr -> v128", 8),
    (0xFD04, "v128.load16x4_u", MEMARG, "addr -> v128", 8),
    (0xFD05, "v128.load32x2_s", MEMARG, "addr -> v128", 8),
    (0xFD06, "v128.load32x2_u", MEMARG, "addr -> v128", 8),
    (0xFD07, "v128.load8_splat", MEMARG, "addr -> v128", 1),
    (0xFD08, "v128.load16_splat", MEMARG, "addr -> v128", 2),
    (0xFD09, "v128.load32_splat", MEMARG, "addr -> v128", 4),
    (0xFD0A, "v128.load64_splat", MEMARG, "addr -> v128", 8),
    (0xFD0B, "v128.store", MEMARG, "addr v128 ->", 16),
    (0xFD0C, "v128.const", V128_CONST, "-> v128"),
    (0xFD0D, "i8x16.shuffle", SHUFFLE, "v128 v128 -> v128", 32),
    (0xFD0E, "i8x16.swizzle", NONE, "v128 v128 -> v128"),
    (0xFD0F, "i8x16.splat", NONE, "i32 -> v128"),
    (0xFD10, "i16x8.splat", NONE, "i32 -> v128"),
    (0xFD11, "i32x4.splat", NONE, "i32 -> v128"),
    (0xFD12, "i64x2.splat", NONE, "i64 -> v128"),
    (0xFD13, "f32x4.splat", NONE, "f32 -> v128"),
    (0xFD14, "f64x2.splat", NONE, "f64 -> v128"),
    (0xFD15, "i8x16.extract_lane_s", LANE, "v128 -> i32", 16),
    (0xFD16, "i8x16.extract_lane_u", LANE, "v128 -> i32", 16),
    (0xFD17, "i8x16.replace_lane", LANE, "v128 i32 -> v128", 16),
    (0xFD18, "i16x8.extract_lane_s", LANE, "v128 -> i32", 8),
    (0xFD19, "i16x8.extract_lane_u", LANE, "v128 -> i32", 8),
    (0xFD1A, "i16x8.replace_lane", LANE, "v128 i32 -> v128", 8),
    (0xFD1B, "i32x4.extract_lane", LANE, "v128 -> i32", 4),
    (0xFD1C, "i32x4.replace_lane", LANE, "v128 i32 -> v128", 4),
    (0xFD1D, "i64x2.extract_lane", LANE, "v128 -> i64", 2),
    (0xFD1E, "i64x2.replace_lane", LANE, "v128 i64 -> v128", 2),
    (0xFD1F, "f32x4.extract_lane", LANE, "v128 -> f32", 4),
    (0xFD20, "f32x4.replace_lane", LANE, "v128 f32 -> v128", 4),
    (0xFD21, "f64x2.extract_lane", LANE, "v128 -> f64", 2),
    (0xFD22, "f64x2.replace_lane", LANE, "v128 f64 -> v128", 2),
    (0xFD23, "i8x16.eq", NONE, "v128 v128 -> v128"),
    (0xFD24, "i8x16.ne", NONE, "v128 v128 -> v128"),
    (0xFD25, "i8x16.lt_s", NONE, "v128 v128 -> v128"),
    (0xFD26, "i8x16.lt_u", NONE, "v128 v128 -> v128"),
    (0xFD27, "i8x16.gt_s", NONE, "v128 v128 -> v128"),
    (0xFD28, "i8x16.gt_u", NONE, "v128 v128 -> v128"),
    (0xFD29, "i8x16.le_s", NONE, "v128 v128 -> v128"),
    (0xFD2A, "i8x16.le_u", NONE, "v128 v128 -> v128"),
    (0xFD2B, "i8x16.ge_s", NONE, "v128 v128 -> v128"),
    (0xFD2C, "i8x16.ge_u", NONE, "v128 v128 -> v128"),
    (0xFD2D, "i16x8.eq", NONE, "v128 v128 -> v128"),
    (0xFD2E, "i16x8.ne", NONE, "v128 v128 -> v128"),
    (0xFD2F, "i16x8.lt_s", NONE, "v128 v128 -> v128"),
    (0xFD30, "i16x8.lt_u", NONE, "v128 v128 -> v128"),
    (0xFD31, "i16x8.gt_s", NONE, "v128 v128 -> v128"),
    (0xFD32, "i16x8.gt_u", NONE, "v128 v128 -> v128"),
    (0xFD33, "i16x8.le_s", NONE, "v128 v128 -> v128"),
    (0xFD34, "i16x8.le_u", NONE, "v128 v128 -> v128"),
    (0xFD35, "i16x8.ge_s", NONE, "v128 v128 -> v128"),
    (0xFD36, "i16x8.ge_u", NONE, "v128 v128 -> v128"),
    (0xFD37, "i32x4.eq", NONE, "v128 v128 -> v128"),
    (0xFD38, "i32x4.ne", NONE, "v128 v128 -> v128"),
    (0xFD39, "i32x4.lt_s", NONE, "v128 v128 -> v128"),
    (0xFD3A, "i32x4.lt_u", NONE, "v128 v128 -> v128"),
    (0xFD3B, "i32x4.gt_s", NONE, "v128 v128 -> v128"),
    (0xFD3C, "i32x4.gt_u", NONE, "v128 v128 -> v128"),
    (0xFD3D, "i32x4.le_s", NONE, "v128 v128 -> v128"),
    (0xFD3E, "i32x4.le_u", NONE, "v128 v128 -> v128"),
    (0xFD3F, "i32x4.ge_s", NONE, "v128 v128 -> v128"),
    (0xFD40, "i32x4.ge_u", NONE, "v128 v128 -> v128"),
    (0xFD41, "f32x4.eq", NONE, "v128 v128 -> v128"),
    (0xFD42, "f32x4.ne", NONE, "v128 v128 -> v128"),
    (0xFD43, "f32x4.lt", NONE, "v128 v128 -> v128"),
    (0xFD44, "f32x4.gt", NONE, "v128 v128 -> v128"),
    (0xFD45, "f32x4.le", NONE, "v128 v128 -> v128"),
    (0xFD46, "f32x4.ge", NONE, "v128 v128 -> v128"),
    (0xFD47, "f64x2.eq", NONE, "v128 v128 -> v128"),
    (0xFD48, "f64x2.ne", NONE, "v128 v128 -> v128"),
    (0xFD49, "f64x2.lt", NONE, "v128 v128 -> v128"),
    (0xFD4A, "f64x2.gt", NONE, "v128 v128 -> v128"),
    (0xFD4B, "f64x2.le", NONE, "v128 v128 -> v128"),
    (0xFD4C, "f64x2.ge", NONE, "v128 v128 -> v128"),
    (0xFD4D, "v128.not", NONE, "v128 -> v128"),
    (0xFD4E, "v128.and", NONE, "v128 v128 -> v128"),
    (0xFD4F, "v128.andnot", NONE, "v128 v128 -> v128"),
    (0xFD50, "v128.or", NONE, "v128 v128 -> v128"),
    (0xFD51, "v128.xor", NONE, "v128 v128 -> v128"),
    (0xFD52, "v128.bitselect", NONE, "v128 v128 v128 -> v128"),
    (0xFD53, "v128.any_true", NONE, "v128 -> i32"),
    (0xFD54, "v128.load8_lane", MEMARG_LANE, "addr v128 -> v128", 1),
    (0xFD55, "v128.load16_lane", MEMARG_LANE, "addr v128 -> v128", 2),
    (0xFD56, "v128.load32_lane", MEMARG_LANE, "addr v128 -> v128", 4),
    (0xFD57, "v128.load64_lane", MEMARG_LANE, "addr v128 -> v128", 8),
    (0xFD58, "v128.store8_lane", MEMARG_LANE, "addr v128 ->", 1),
    (0xFD59, "v128.store16_lane", MEMARG_LANE, "addr v128 ->", 2),
    (0xFD5A, "v128.store32_lane", MEMARG_LANE, "addr v128 ->", 4),
    (0xFD5B, "v128.store64_lane", MEMARG_LANE, "addr v128 ->", 8),
    (0xFD5C, "v128.load32_zero", MEMARG, "addr -> v128", 4),
    (0xFD5D, "v128.load64_zero", MEMARG, "addr -> v128", 8),
    (0xFD5E, "f32x4.demote_f64x2_zero", NONE, "v128 -> v128"),
    (0xFD5F, "f64x2.promote_low_f32x4", NONE, "v128 -> v128"),
    (0xFD60, "i8x16.abs", NONE, "v128 -> v128"),
    (0xFD61, "i8x16.neg", NONE, "v128 -> v128"),
    (0xFD62, "i8x16.popcnt", NONE, "v128 -> v128"),
    (0xFD63, "i8x16.all_true", NONE, "v128 -> i32"),
    (0xFD64, "i8x16.bitmask", NONE, "v128 -> i32"),
    (0xFD65, "i8x16.narrow_i16x8_s", NONE, "v128 v128 -> v128"),
    (0xFD66, "i8x16.narrow_i16x8_u", NONE, "v128 v128 -> v128"),
    (0xFD67, "f32x4.ceil", NONE, "v128 -> v128"),
    (0xFD68, "f32x4.floor", NONE, "v128 -> v128"),
    (0xFD69, "f32x4.trunc", NONE, "v128 -> v128"),
    (0xFD6A, "f32x4.nearest", NONE, "v128 -> v128"),
    (0xFD6B, "i8x16.shl", NONE, "v128 i32 -> v128"),
    (0xFD6C, "i8x16.shr_s", NONE, "v128 i32 -> v128"),
    (0xFD6D, "i8x16.shr_u", NONE, "v128 i32 -> v128"),
    (0xFD6E, "i8x16.add", NONE, "v128 v128 -> v128"),
    (0xFD6F, "i8x16.add_sat_s", NONE, "v128 v128 -> v128"),
    (0xFD70, "i8x16.add_sat_u", NONE, "v128 v128 -> v128"),
    (0xFD71, "i8x16.sub", NONE, "v128 v128 -> v128"),
    (0xFD72, "i8x16.sub_sat_s", NONE, "v128 v128 -> v128"),
    (0xFD73, "i8x16.sub_sat_u", NONE, "v128 v128 -> v128"),
    (0xFD74, "f64x2.ceil", NONE, "v128 -> v128"),
    (0xFD75, "f64x2.floor", NONE, "v128 -> v128"),
    (0xFD76, "i8x16.min_s", NONE, "v128 v128 -> v128"),
    (0xFD77, "i8x16.min_u", NONE, "v128 v128 -> v128"),
    (0xFD78, "i8x16.max_s", NONE, "v128 v128 -> v128"),
    (0xFD79, "i8x16.max_u", NONE, "v128 v128 -> v128"),
    (0xFD7A, "f64x2.trunc", NONE, "v128 -> v128"),
    (0xFD7B, "i8x16.avgr_u", NONE, "v128 v128 -> v128"),
    (0xFD7C, "i16x8.extadd_pairwise_i8x16_s", NONE, "v128 -> v128"),
    (0xFD7D, "i16x8.extadd_pairwise_i8x16_u", NONE, "v128 -> v128"),
    (0xFD7E, "i32x4.extadd_pairwise_i16x8_s", NONE, "v128 -> v128"),
    (0xFD7F, "i32x4.extadd_pairwise_i16x8_u", NONE, "v128 -> v128"),
    (0xFD80, "i16x8.abs", NONE, "v128 -> v128"),
    (0xFD81, "i16x8.neg", NONE, "v128 -> v128"),
    (0xFD82, "i16x8.q15mulr_sat_s", NONE, "v128 v128 -> v128"),
    (0xFD83, "i16x8.all_true", NONE, "v128 -> i32"),
    (0xFD84, "i16x8.bitmask", NONE, "v128 -> i32"),
    (0xFD85, "i16x8.narrow_i32x4_s", NONE, "v128 v128 -> v128"),
    (0xFD86, "i16x8.narrow_i32x4_u", NONE, "v128 v128 -> v128"),
    (0xFD87, "i16x8.extend_low_i8x16_s", NONE, "v128 -> v128"),
    (0xFD88, "i16x8.extend_high_i8x16_s", NONE, "v128 -> v128"),
    (0xFD89, "i16x8.extend_low_i8x16_u", NONE, "v128 -> v128"),
    (0xFD8A, "i16x8.extend_high_i8x16_u", NONE, "v128 -> v128"),
    (0xFD8B, "i16x8.shl", NONE, "v128 i32 -> v128"),
    (0xFD8C, "i16x8.shr_s", NONE, "v128 i32 -> v128"),
    (0xFD8D, "i16x8.shr_u", NONE, "v128 i32 -> v128"),
    (0xFD8E, "i16x8.add", NONE, "v128 v128 -> v128"),
    (0xFD8F, "i16x8.add_sat_s", NONE, "v128 v128 -> v128"),
    (0xFD90, "i16x8.add_sat_u", NONE, "v128 v128 -> v128"),
    (0xFD91, "i16x8.sub", NONE, "v128 v128 -> v128"),
    (0xFD92, "i16x8.sub_sat_s", NONE, "v128 v128 -> v128"),
    (0xFD93, "i16x8.sub_sat_u", NONE, "v128 v128 -> v128"),
    (0xFD94, "f64x2.nearest", NONE, "v128 -> v128"),
    (0xFD95, "i16x8.mul", NONE, "v128 v128 -> v128"),
    (0xFD96, "i16x8.min_s", NONE, "v128 v128 -> v128"),
    (0xFD97, "i16x8.min_u", NONE, "v128 v128 -> v128"),
    (0xFD98, "i16x8.max_s", NONE, "v128 v128 -> v128"),
    (0xFD99, "i16x8.max_u", NONE, "v128 v128 -> v128"),
    (0xFD9B, "i16x8.avgr_u", NONE, "v128 v128 -> v128"),
    (0xFD9C, "i16x8.extmul_low_i8x16_s", NONE, "v128 v128 -> v128"),
    (0xFD9D, "i16x8.extmul_high_i8x16_s", NONE, "v128 v128 -> v128"),
    (0xFD9E, "i16x8.extmul_low_i8x16_u", NONE, "v128 v128 -> v128"),
    (0xFD9F, "i16x8.extmul_high_i8x16_u", NONE, "v128 v128 -> v128"),
    (0xFDA0, "i32x4.abs", NONE, "v128 -> v128"),
    (0xFDA1, "i32x4.neg", NONE, "v128 -> v128"),
    (0xFDA3, "i32x4.all_true", NONE, "v128 -> i32"),
    (0xFDA4, "i32x4.bitmask", NONE, "v128 -> i32"),
    (0xFDA7, "i32x4.extend_low_i16x8_s", NONE, "v128 -> v128"),
    (0xFDA8, "i32x4.extend_high_i16x8_s", NONE, "v128 -> v128"),
    (0xFDA9, "i32x4.extend_low_i16x8_u", NONE, "v128 -> v128"),
    (0xFDAA, "i32x4.extend_high_i16x8_u", NONE, "v128 -> v128"),
    (0xFDAB, "i32x4.shl", NONE, "v128 i32 -> v128"),
    (0xFDAC, "i32x4.shr_s", NONE, "v128 i32 -> v128"),
    (0xFDAD, "i32x4.shr_u", NONE, "v128 i32 -> v128"),
    (0xFDAE, "i32x4.add", NONE, "v128 v128 -> v128"),
    (0xFDB1, "i32x4.sub", NONE, "v128 v128 -> v128"),
    (0xFDB5, "i32x4.mul", NONE, "v128 v128 -> v128"),
    (0xFDB6, "i32x4.min_s", NONE, "v128 v128 -> v128"),
    (0xFDB7, "i32x4.min_u", NONE, "v128 v128 -> v128"),
    (0xFDB8, "i32x4.max_s", NONE, "v128 v128 -> v128"),
    (0xFDB9, "i32x4.max_u", NONE, "v128 v128 -> v128"),
    (0xFDBA, "i32x4.dot_i16x8_s", NONE, "v128 v128 -> v128"),
    (0xFDBC, "i32x4.extmul_low_i16x8_s", NONE, "v128 v128 -> v128"),
    (0xFDBD, "i32x4.extmul_high_i16x8_s", NONE, "v128 v128 -> v128"),
    (0xFDBE, "i32x4.extmul_low_i16x8_u", NONE, "v128 v128 -> v128"),
    (0xFDBF, "i32x4.extmul_high_i16x8_u", NONE, "v128 v128 -> v128"),
    (0xFDC0, "i64x2.abs", NONE, "v128 -> v128"),
    (0xFDC1, "i64x2.neg", NONE, "v128 -> v128"),
    (0xFDC3, "i64x2.all_true", NONE, "v128 -> i32"),
    (0xFDC4, "i64x2.bitmask", NONE, "v128 -> i32"),
    (0xFDC7, "i64x2.extend_low_i32x4_s", NONE, "v128 -> v128"),
    (0xFDC8, "i64x2.extend_high_i32x4_s", NONE, "v128 -> v128"),
    (0xFDC9, "i64x2.extend_low_i32x4_u", NONE, "v128 -> v128"),
    (0xFDCA, "i64x2.extend_high_i32x4_u", NONE, "v128 -> v128"),
    (0xFDCB, "i64x2.shl", NONE, "v128 i32 -> v128"),
    (0xFDCC, "i64x2.shr_s", NONE, "v128 i32 -> v128"),
    (0xFDCD, "i64x2.shr_u", NONE, "v128 i32 -> v128"),
    (0xFDCE, "i64x2.add", NONE, "v128 v128 -> v128"),
    (0xFDD1, "i64x2.sub", NONE, "v128 v128 -> v128"),
    (0xFDD5, "i64x2.mul", NONE, "v128 v128 -> v128"),
    (0xFDD6, "i64x2.eq", NONE, "v128 v128 -> v128"),
    (0xFDD7, "i64x2.ne", NONE, "v128 v128 -> v128"),
    (0xFDD8, "i64x2.lt_s", NONE, "v128 v128 -> v128"),
    (0xFDD9, "i64x2.gt_s", NONE, "v128 v128 -> v128"),
    (0xFDDA, "i64x2.le_s", NONE, "v128 v128 -> v128"),
    (0xFDDB, "i64x2.ge_s", NONE, "v128 v128 -> v128"),
    (0xFDDC, "i64x2.extmul_low_i32x4_s", NONE, "v128 v128 -> v128"),
    (0xFDDD, "i64x2.extmul_high_i32x4_s", NONE, "v128 v128 -> v128"),
    (0xFDDE, "i64x2.extmul_low_i32x4_u", NONE, "v128 v128 -> v128"),
    (0xFDDF, "i64x2.extmul_high_i32x4_u", NONE, "v128 v128 -> v128"),
    (0xFDE0, "f32x4.abs", NONE, "v128 -> v128"),
    (0xFDE1, "f32x4.neg", NONE, "v128 -> v128"),
    (0xFDE3, "f32x4.sqrt", NONE, "v128 -> v128"),
    (0xFDE4, "f32x4.add", NONE, "v128 v128 -> v128"),
    (0xFDE5, "f32x4.sub", NONE, "v128 v128 -> v128"),
    (0xFDE6, "f32x4.mul", NONE, "v128 v128 -> v128"),
    (0xFDE7, "f32x4.div", NONE, "v128 v128 -> v128"),
    (0xFDE8, "f32x4.min", NONE, "v128 v128 -> v128"),
    (0xFDE9, "f32x4.max", NONE, "v128 v128 -> v128"),
    (0xFDEA, "f32x4.pmin", NONE, "v128 v128 -> v128"),
    (0xFDEB, "f32x4.pmax", NONE, "v128 v128 -> v128"),
    (0xFDEC, "f64x2.abs", NONE, "v128 -> v128"),
    (0xFDED, "f64x2.neg", NONE, "v128 -> v128"),
    (0xFDEF, "f64x2.sqrt", NONE, "v128 -> v128"),
    (0xFDF0, "f64x2.add", NONE, "v128 v128 -> v128"),
    (0xFDF1, "f64x2.sub", NONE, "v128 v128 -> v128"),
    (0xFDF2, "f64x2.mul", NONE, "v128 v128 -> v128"),
    (0xFDF3, "f64x2.div", NONE, "v128 v128 -> v128"),
    (0xFDF4, "f64x2.min", NONE, "v128 v128 -> v128"),
    (0xFDF5, "f64x2.max", NONE, "v128 v128 -> v128"),
    (0xFDF6, "f64x2.pmin", NONE, "v128 v128 -> v128"),
    (0xFDF7, "f64x2.pmax", NONE, "v128 v128 -> v128"),
    (0xFDF8, "i32x4.trunc_sat_f32x4_s", NONE, "v128 -> v128"),
    (0xFDF9, "i32x4.trunc_sat_f32x4_u", NONE, "v128 -> v128"),
    (0xFDFA, "f32x4.convert_i32x4_s", NONE, "v128 -> v128"),
    (0xFDFB, "f32x4.convert_i32x4_u", NONE, "v128 -> v128"),
    (0xFDFC, "i32x4.trunc_sat_f64x2_s_zero", NONE, "v128 -> v128"),
    (0xFDFD, "i32x4.trunc_sat_f64x2_u_zero", NONE, "v128 -> v128"),
    (0xFDFE, "f64x2.convert_low_i32x4_s", NONE, "v128 -> v128"),
    (0xFDFF, "f64x2.convert_low_i32x4_u", NONE, "v128 -> v128"),
    # --- relaxed SIMD (WebAssembly 3.0): 0xFD 0x100-0x113, results in runner/translate/relaxed.py ---
    (0xFD00 + 0x100, "i8x16.relaxed_swizzle", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x101, "i32x4.relaxed_trunc_f32x4_s", NONE, "v128 -> v128"),
    (0xFD00 + 0x102, "i32x4.relaxed_trunc_f32x4_u", NONE, "v128 -> v128"),
    (0xFD00 + 0x103, "i32x4.relaxed_trunc_f64x2_s_zero", NONE, "v128 -> v128"),
    (0xFD00 + 0x104, "i32x4.relaxed_trunc_f64x2_u_zero", NONE, "v128 -> v128"),
    (0xFD00 + 0x105, "f32x4.relaxed_madd", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x106, "f32x4.relaxed_nmadd", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x107, "f64x2.relaxed_madd", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x108, "f64x2.relaxed_nmadd", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x109, "i8x16.relaxed_laneselect", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x10A, "i16x8.relaxed_laneselect", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x10B, "i32x4.relaxed_laneselect", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x10C, "i64x2.relaxed_laneselect", NONE, "v128 v128 v128 -> v128"),
    (0xFD00 + 0x10D, "f32x4.relaxed_min", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x10E, "f32x4.relaxed_max", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x10F, "f64x2.relaxed_min", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x110, "f64x2.relaxed_max", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x111, "i16x8.relaxed_q15mulr_s", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x112, "i16x8.relaxed_dot_i8x16_i7x16_s", NONE, "v128 v128 -> v128"),
    (0xFD00 + 0x113, "i32x4.relaxed_dot_i8x16_i7x16_add_s", NONE, "v128 v128 v128 -> v128"),
]

# Instruction immediates that are more than one number.
class MemArg(NamedTuple):
    """A load/store immediate: log2 alignment, offset (u64), memory index, lane (SIMD *_lane ops)."""

    align: int
    offset: int
    memory: int = 0
    lane: int | None = None


CATCH, CATCH_REF, CATCH_ALL, CATCH_ALL_REF = 0, 1, 2, 3


class Catch(NamedTuple):
    """One clause of try_table: its kind (CATCH...), tag index (None for catch_all*) and label."""

    kind: int
    tag: int | None
    label: int


class TryTable(NamedTuple):
    blocktype: object          # as block's immediate
    catches: tuple[Catch, ...]


# The 3.0 instructions a validator/translator may not implement yet (see ``NEW_IN_3``).
NEW_IN_3 = frozenset((0x12, 0x13, 0x14, 0x15, 0x08, 0x0A, 0x1F, 0xD4, 0xD5, 0xD6))

SIMD_LAST = 0xFD00 + 0x113     # the highest 0xFD-prefixed code (i32x4.relaxed_dot_i8x16_i7x16_add_s)


def is_simd(code: int) -> bool:
    """An 0xFD-prefixed (v128) instruction's code."""
    return 0xFD00 <= code <= SIMD_LAST


# The stack-effect type names (runner/binary/module.py's codes) and type-rules.
_VALUE_TYPES = {"i32": 0x7F, "i64": 0x7E, "f32": 0x7D, "f64": 0x7C, "v128": 0x7B}
ADDR = "addr"                  # the memory's address type: i32, or i64 for memory64


class Operator(NamedTuple):
    """One row of ``OPCODES``, parsed."""

    code: int
    name: str
    imm: str                           # immediate kind (the constants above)
    pops: tuple | None                 # operand types popped, last on top; None: a special rule
    pushes: tuple | None               # result types pushed
    access: int = 0                    # loads/stores: bytes accessed (alignment at most that)
    lanes: int = 0                     # lane immediates (LANE, SHUFFLE, MEMARG_LANE): lane count


def _operator(row: tuple) -> Operator:
    code, name, imm = row[:3]
    if len(row) == 3:
        return Operator(code, name, imm, None, None)
    before, _, after = row[3].partition("->")
    pops = tuple(ADDR if t == ADDR else _VALUE_TYPES[t] for t in before.split())
    pushes = tuple(_VALUE_TYPES[t] for t in after.split())
    n = row[4] if len(row) > 4 else 0
    if imm in (MEMARG, MEMARG_LANE):
        return Operator(code, name, imm, pops, pushes, access=n, lanes=16 // n if imm == MEMARG_LANE else 0)
    return Operator(code, name, imm, pops, pushes, lanes=n)


OPERATORS: dict[int, Operator] = {row[0]: _operator(row) for row in OPCODES}
assert len(OPERATORS) == len(OPCODES), "an opcode listed twice"

NAME = {code: o.name for code, o in OPERATORS.items()}
IMMEDIATE = {code: o.imm for code, o in OPERATORS.items()}
CODE = {o.name: code for code, o in OPERATORS.items()}

# Convenience constants for the control instructions that the passes treat specially.
UNREACHABLE, BLOCK, LOOP, IF, ELSE, END = 0x00, 0x02, 0x03, 0x04, 0x05, 0x0B
BR, BR_IF, BR_TABLE_OP, RETURN = 0x0C, 0x0D, 0x0E, 0x0F
