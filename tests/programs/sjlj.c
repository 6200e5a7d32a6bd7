/* setjmp/longjmp compiled to wasm exceptions (clang -mllvm -wasm-enable-sjlj: each function
 * calling setjmp wraps its calls in try_table (catch __c_longjmp), longjmp throws it): the way
 * C programs such as CPython use exception handling.  tests/test_exceptions.py compares the
 * output with wasmtime's. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jmp_buf top;

static int descend(int n, int code) {
  char pad[32];
  memset(pad, n & 0xff, sizeof pad);
  if (n == 0) longjmp(top, code);
  return descend(n - 1, code) + pad[3];
}

/* A tiny "try" stack: error handlers nest like try blocks. */
struct handler { jmp_buf env; struct handler *prev; };
static struct handler *handlers;

static void raise_error(int code) {
  struct handler *h = handlers;
  if (!h) { printf("unhandled error %d\n", code); exit(3); }
  handlers = h->prev;
  longjmp(h->env, code);
}

static int parse_digit(char c) {
  if (c < '0' || c > '9') raise_error(c);
  return c - '0';
}

static int parse_number(const char *s) {
  int v = 0;
  for (; *s; s++) v = v * 10 + parse_digit(*s);
  return v;
}

/* Returns the number or -code, with a handler of its own around parse_number. */
static int try_parse(const char *s) {
  struct handler h;
  h.prev = handlers;
  handlers = &h;
  int code = setjmp(h.env);
  if (code) return -code;
  int v = parse_number(s);
  handlers = h.prev;
  return v;
}

/* An outer handler catching what an inner level re-raises. */
static int sum_all(const char **items, int n) {
  struct handler h;
  h.prev = handlers;
  handlers = &h;
  volatile int total = 0;
  int code = setjmp(h.env);
  if (code) { printf("sum_all: aborted by %d after total %d\n", code, total); return -1; }
  for (int i = 0; i < n; i++) {
    int v = try_parse(items[i]);
    if (v == -'!') raise_error(1000 + i);   /* re-raise to the outer level */
    total += v < 0 ? 0 : v;
  }
  handlers = h.prev;
  return total;
}

int main(void) {
  for (int depth = 0; depth <= 400; depth += 100) {
    int r = setjmp(top);
    if (r == 0) descend(depth, depth + 1);
    else printf("longjmp from depth %d returned %d\n", depth, r);
  }
  const char *good[] = {"12", "x7", "345", "9"};
  printf("sum good = %d\n", sum_all(good, 4));
  const char *bad[] = {"1", "22", "!", "4"};
  printf("sum bad = %d\n", sum_all(bad, 4));
  /* Many throws: the unwinder's fast path, and tier-up of the functions involved. */
  volatile long acc = 0;
  for (int i = 0; i < 20000; i++) {
    int r = setjmp(top);
    if (r == 0) descend(i % 7, i + 1);
    else acc += r;
  }
  printf("acc = %ld\n", (long)acc);
  printf("parse 4096 = %d, parse 12a = %d\n", try_parse("4096"), try_parse("12a"));
  return 0;
}
