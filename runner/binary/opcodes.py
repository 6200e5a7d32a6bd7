"""THE opcode table: every WebAssembly 2.0 instruction (without SIMD) listed once.

Each row is ``(code, name, immediate kind)``. Prefixed instructions get the
code ``0xFC00 | subopcode``.  The decoder, the validator and the translator
all key on these codes; their dispatch tables are built from this list.
"""
from __future__ import annotations

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
MEMARG = "memarg"              # align, offset
MEMIDX = "memidx"              # memory.size/grow/fill: one reserved 0x00 byte
I32 = "i32"
I64 = "i64"
F32 = "f32"
F64 = "f64"
SELECT_T = "select_t"          # vec(valtype)
REFTYPE = "reftype"            # ref.null
MEMORY_INIT = "memory.init"    # data index, 0x00
MEMORY_COPY = "memory.copy"    # 0x00 0x00
DATA = "data"                  # data.drop
TABLE_INIT = "table.init"      # elem index, table index
ELEM = "elem"                  # elem.drop
TABLE_COPY = "table.copy"      # dst table, src table

OPCODES: list[tuple[int, str, str]] = [
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
    # --- reference ---
    (0xD0, "ref.null", REFTYPE),
    (0xD1, "ref.is_null", NONE),
    (0xD2, "ref.func", FUNC),
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
    (0x28, "i32.load", MEMARG),
    (0x29, "i64.load", MEMARG),
    (0x2A, "f32.load", MEMARG),
    (0x2B, "f64.load", MEMARG),
    (0x2C, "i32.load8_s", MEMARG),
    (0x2D, "i32.load8_u", MEMARG),
    (0x2E, "i32.load16_s", MEMARG),
    (0x2F, "i32.load16_u", MEMARG),
    (0x30, "i64.load8_s", MEMARG),
    (0x31, "i64.load8_u", MEMARG),
    (0x32, "i64.load16_s", MEMARG),
    (0x33, "i64.load16_u", MEMARG),
    (0x34, "i64.load32_s", MEMARG),
    (0x35, "i64.load32_u", MEMARG),
    (0x36, "i32.store", MEMARG),
    (0x37, "i64.store", MEMARG),
    (0x38, "f32.store", MEMARG),
    (0x39, "f64.store", MEMARG),
    (0x3A, "i32.store8", MEMARG),
    (0x3B, "i32.store16", MEMARG),
    (0x3C, "i64.store8", MEMARG),
    (0x3D, "i64.store16", MEMARG),
    (0x3E, "i64.store32", MEMARG),
    (0x3F, "memory.size", MEMIDX),
    (0x40, "memory.grow", MEMIDX),
    # --- constants ---
    (0x41, "i32.const", I32),
    (0x42, "i64.const", I64),
    (0x43, "f32.const", F32),
    (0x44, "f64.const", F64),
    # --- i32 comparisons ---
    (0x45, "i32.eqz", NONE),
    (0x46, "i32.eq", NONE),
    (0x47, "i32.ne", NONE),
    (0x48, "i32.lt_s", NONE),
    (0x49, "i32.lt_u", NONE),
    (0x4A, "i32.gt_s", NONE),
    (0x4B, "i32.gt_u", NONE),
    (0x4C, "i32.le_s", NONE),
    (0x4D, "i32.le_u", NONE),
    (0x4E, "i32.ge_s", NONE),
    (0x4F, "i32.ge_u", NONE),
    # --- i64 comparisons ---
    (0x50, "i64.eqz", NONE),
    (0x51, "i64.eq", NONE),
    (0x52, "i64.ne", NONE),
    (0x53, "i64.lt_s", NONE),
    (0x54, "i64.lt_u", NONE),
    (0x55, "i64.gt_s", NONE),
    (0x56, "i64.gt_u", NONE),
    (0x57, "i64.le_s", NONE),
    (0x58, "i64.le_u", NONE),
    (0x59, "i64.ge_s", NONE),
    (0x5A, "i64.ge_u", NONE),
    # --- float comparisons ---
    (0x5B, "f32.eq", NONE),
    (0x5C, "f32.ne", NONE),
    (0x5D, "f32.lt", NONE),
    (0x5E, "f32.gt", NONE),
    (0x5F, "f32.le", NONE),
    (0x60, "f32.ge", NONE),
    (0x61, "f64.eq", NONE),
    (0x62, "f64.ne", NONE),
    (0x63, "f64.lt", NONE),
    (0x64, "f64.gt", NONE),
    (0x65, "f64.le", NONE),
    (0x66, "f64.ge", NONE),
    # --- i32 arithmetic ---
    (0x67, "i32.clz", NONE),
    (0x68, "i32.ctz", NONE),
    (0x69, "i32.popcnt", NONE),
    (0x6A, "i32.add", NONE),
    (0x6B, "i32.sub", NONE),
    (0x6C, "i32.mul", NONE),
    (0x6D, "i32.div_s", NONE),
    (0x6E, "i32.div_u", NONE),
    (0x6F, "i32.rem_s", NONE),
    (0x70, "i32.rem_u", NONE),
    (0x71, "i32.and", NONE),
    (0x72, "i32.or", NONE),
    (0x73, "i32.xor", NONE),
    (0x74, "i32.shl", NONE),
    (0x75, "i32.shr_s", NONE),
    (0x76, "i32.shr_u", NONE),
    (0x77, "i32.rotl", NONE),
    (0x78, "i32.rotr", NONE),
    # --- i64 arithmetic ---
    (0x79, "i64.clz", NONE),
    (0x7A, "i64.ctz", NONE),
    (0x7B, "i64.popcnt", NONE),
    (0x7C, "i64.add", NONE),
    (0x7D, "i64.sub", NONE),
    (0x7E, "i64.mul", NONE),
    (0x7F, "i64.div_s", NONE),
    (0x80, "i64.div_u", NONE),
    (0x81, "i64.rem_s", NONE),
    (0x82, "i64.rem_u", NONE),
    (0x83, "i64.and", NONE),
    (0x84, "i64.or", NONE),
    (0x85, "i64.xor", NONE),
    (0x86, "i64.shl", NONE),
    (0x87, "i64.shr_s", NONE),
    (0x88, "i64.shr_u", NONE),
    (0x89, "i64.rotl", NONE),
    (0x8A, "i64.rotr", NONE),
    # --- f32 arithmetic ---
    (0x8B, "f32.abs", NONE),
    (0x8C, "f32.neg", NONE),
    (0x8D, "f32.ceil", NONE),
    (0x8E, "f32.floor", NONE),
    (0x8F, "f32.trunc", NONE),
    (0x90, "f32.nearest", NONE),
    (0x91, "f32.sqrt", NONE),
    (0x92, "f32.add", NONE),
    (0x93, "f32.sub", NONE),
    (0x94, "f32.mul", NONE),
    (0x95, "f32.div", NONE),
    (0x96, "f32.min", NONE),
    (0x97, "f32.max", NONE),
    (0x98, "f32.copysign", NONE),
    # --- f64 arithmetic ---
    (0x99, "f64.abs", NONE),
    (0x9A, "f64.neg", NONE),
    (0x9B, "f64.ceil", NONE),
    (0x9C, "f64.floor", NONE),
    (0x9D, "f64.trunc", NONE),
    (0x9E, "f64.nearest", NONE),
    (0x9F, "f64.sqrt", NONE),
    (0xA0, "f64.add", NONE),
    (0xA1, "f64.sub", NONE),
    (0xA2, "f64.mul", NONE),
    (0xA3, "f64.div", NONE),
    (0xA4, "f64.min", NONE),
    (0xA5, "f64.max", NONE),
    (0xA6, "f64.copysign", NONE),
    # --- conversions ---
    (0xA7, "i32.wrap_i64", NONE),
    (0xA8, "i32.trunc_f32_s", NONE),
    (0xA9, "i32.trunc_f32_u", NONE),
    (0xAA, "i32.trunc_f64_s", NONE),
    (0xAB, "i32.trunc_f64_u", NONE),
    (0xAC, "i64.extend_i32_s", NONE),
    (0xAD, "i64.extend_i32_u", NONE),
    (0xAE, "i64.trunc_f32_s", NONE),
    (0xAF, "i64.trunc_f32_u", NONE),
    (0xB0, "i64.trunc_f64_s", NONE),
    (0xB1, "i64.trunc_f64_u", NONE),
    (0xB2, "f32.convert_i32_s", NONE),
    (0xB3, "f32.convert_i32_u", NONE),
    (0xB4, "f32.convert_i64_s", NONE),
    (0xB5, "f32.convert_i64_u", NONE),
    (0xB6, "f32.demote_f64", NONE),
    (0xB7, "f64.convert_i32_s", NONE),
    (0xB8, "f64.convert_i32_u", NONE),
    (0xB9, "f64.convert_i64_s", NONE),
    (0xBA, "f64.convert_i64_u", NONE),
    (0xBB, "f64.promote_f32", NONE),
    (0xBC, "i32.reinterpret_f32", NONE),
    (0xBD, "i64.reinterpret_f64", NONE),
    (0xBE, "f32.reinterpret_i32", NONE),
    (0xBF, "f64.reinterpret_i64", NONE),
    # --- sign extension ---
    (0xC0, "i32.extend8_s", NONE),
    (0xC1, "i32.extend16_s", NONE),
    (0xC2, "i64.extend8_s", NONE),
    (0xC3, "i64.extend16_s", NONE),
    (0xC4, "i64.extend32_s", NONE),
    # --- 0xFC prefix: saturating truncation ---
    (0xFC00, "i32.trunc_sat_f32_s", NONE),
    (0xFC01, "i32.trunc_sat_f32_u", NONE),
    (0xFC02, "i32.trunc_sat_f64_s", NONE),
    (0xFC03, "i32.trunc_sat_f64_u", NONE),
    (0xFC04, "i64.trunc_sat_f32_s", NONE),
    (0xFC05, "i64.trunc_sat_f32_u", NONE),
    (0xFC06, "i64.trunc_sat_f64_s", NONE),
    (0xFC07, "i64.trunc_sat_f64_u", NONE),
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
]

NAME = {code: name for code, name, _ in OPCODES}
IMMEDIATE = {code: imm for code, _, imm in OPCODES}
CODE = {name: code for code, name, _ in OPCODES}

# Convenience constants for the control instructions that the passes treat specially.
UNREACHABLE, BLOCK, LOOP, IF, ELSE, END = 0x00, 0x02, 0x03, 0x04, 0x05, 0x0B
BR, BR_IF, BR_TABLE_OP, RETURN = 0x0C, 0x0D, 0x0E, 0x0F
