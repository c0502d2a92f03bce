/*
 * Landing pads for V8's fatal errors (see src/fatal.rs, which owns the
 * rules for when an escape is sound). `setjmp` lives here, in C, because a
 * function that returns twice cannot be written in Rust: the compiler may
 * assume every call returns once.
 */
#include <setjmp.h>
#include <stddef.h>

/* The innermost landing pad of this thread, or NULL. */
static _Thread_local sigjmp_buf *innermost = NULL;

/* Runs body(data) under a landing pad, which ivm_escape() jumps to. */
void ivm_escapable(void (*body)(void *), void *data) {
    sigjmp_buf pad;
    /* Assigned once, before sigsetjmp, so their values survive the jump.
     * The slot's address is this thread's for good: found once, and kept
     * (volatile) rather than found again, which in a shared library is a
     * call each time. */
    sigjmp_buf **volatile const slot = &innermost;
    sigjmp_buf *const outer = *slot;
    if (sigsetjmp(pad, 0) == 0) {
        *slot = &pad;
        body(data);
    }
    *slot = outer;
}

/* Whether this thread is inside ivm_escapable. */
int ivm_can_escape(void) {
    return innermost != NULL;
}

/* Leaves the innermost ivm_escapable on this thread; never returns. The
 * caller checks ivm_can_escape() first. */
void ivm_escape(void) {
    siglongjmp(*innermost, 1);
}
