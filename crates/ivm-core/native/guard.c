/*
 * Guards on single allocations made by V8 on a thread that runs an
 * isolate (see src/guard.rs, which owns the limits). V8, linked statically
 * into ivm, calls these by their C names, so defining them here puts them
 * between V8 and the C library: `mmap64` and `mprotect` for the pages of
 * its heap, `operator new` for its C++ containers. Elsewhere they pass
 * straight through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* src/guard.rs */
size_t ivm_guard_commit_limit(void);
void ivm_guard_refuse_commit(size_t length);
size_t ivm_guard_object_limit(void);
_Noreturn void ivm_guard_refuse_object(size_t size);

/* Called once by src/guard.rs, so that the linker always takes this file,
 * wherever it comes in the link's order relative to V8. */
int ivm_guard_linked(void) {
    return 1;
}

/* Anonymous memory given read or write access counts as committed: a
 * mapping with no access is a reservation, which costs nothing until it is
 * committed. */
void *mmap64(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    if (protection != PROT_NONE && (flags & MAP_ANONYMOUS) && length > ivm_guard_commit_limit()) {
        ivm_guard_refuse_commit(length);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return (void *)syscall(SYS_mmap, address, length, protection, flags, fd, offset);
}

int mprotect(void *address, size_t length, int protection) {
    if (protection != PROT_NONE && length > ivm_guard_commit_limit()) {
        ivm_guard_refuse_commit(length);
        errno = ENOMEM;
        return -1;
    }
    return (int)syscall(SYS_mprotect, address, length, protection);
}

/* `operator new(size_t)`, which V8 calls for its C++ containers (such as
 * JSON.parse's stack of open arrays) and which may not return null. */
static void *allocate_object(size_t size) {
    if (size > ivm_guard_object_limit()) {
        ivm_guard_refuse_object(size);
    }
    void *block = malloc(size == 0 ? 1 : size);
    if (block == NULL) {
        ivm_guard_refuse_object(size);
    }
    return block;
}

void *_Znwm(size_t size) {
    return allocate_object(size);
}

/* `operator new[](size_t)`. */
void *_Znam(size_t size) {
    return allocate_object(size);
}
