# The tag longjmp throws (wasi-sdk defines it in libsetjmp; zig's wasi libc does not).
	.tagtype __c_longjmp i32
	.globl __c_longjmp
__c_longjmp:
