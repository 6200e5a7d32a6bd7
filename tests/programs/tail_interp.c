#include <stdio.h>
#include <stdint.h>
/* A threaded interpreter whose handlers tail-call the next one (clang's musttail):
   with wasm tail calls it runs in constant stack however long the program is. */
typedef struct { const uint8_t *code; int64_t acc; uint64_t steps; } VM;
typedef int64_t (*Handler)(VM *vm, uint32_t pc, int64_t x);
static int64_t op_inc(VM *vm, uint32_t pc, int64_t x);
static int64_t op_dbl(VM *vm, uint32_t pc, int64_t x);
static int64_t op_mix(VM *vm, uint32_t pc, int64_t x);
static int64_t op_halt(VM *vm, uint32_t pc, int64_t x);
static Handler table[4] = {op_inc, op_dbl, op_mix, op_halt};
#define NEXT(vm, pc, x) do { (vm)->steps++; __attribute__((musttail)) return table[(vm)->code[pc]](vm, pc, x); } while (0)
static int64_t op_inc(VM *vm, uint32_t pc, int64_t x) { x += 1; pc = (pc + 1) % 999; if (vm->steps >= 3000000) NEXT(vm, 999, x); NEXT(vm, pc, x); }
static int64_t op_dbl(VM *vm, uint32_t pc, int64_t x) { x = x * 2 % 1000003; pc = (pc + 1) % 999; if (vm->steps >= 3000000) NEXT(vm, 999, x); NEXT(vm, pc, x); }
static int64_t op_mix(VM *vm, uint32_t pc, int64_t x) { x ^= x >> 3; vm->acc += x; pc = (pc + 1) % 999; if (vm->steps >= 3000000) NEXT(vm, 999, x); NEXT(vm, pc, x); }
static int64_t op_halt(VM *vm, uint32_t pc, int64_t x) { return x + vm->acc; }
int main(void) {
    static uint8_t code[1000];
    for (int i = 0; i < 999; i++) code[i] = (i * 7 + 3) % 3;
    code[999] = 3;
    VM vm = {code, 0, 0};
    int64_t r = table[code[0]](&vm, 0, 1);
    printf("result %lld after %llu steps\n", (long long)r, (unsigned long long)vm.steps);
    return 0;
}
