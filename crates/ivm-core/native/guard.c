/*
 * Guards on single allocations made by V8 on a thread that runs an
 * isolate (see src/guard.rs, which owns the limits). V8, linked statically
 * into ivm, calls these by their C names, so defining them here puts them
 * between V8 and the C library: `mmap64`, `mprotect` and `munmap` for the
 * pages of its heap and of WebAssembly memories, `operator new` for its C++
 * containers. Elsewhere they pass straight through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* src/guard.rs */
int ivm_guard_commit(void *address, size_t length);
void ivm_guard_committed(void *address, size_t length);
void ivm_guard_released(void *address, size_t length);
size_t ivm_guard_object_limit(void);
extern const size_t ivm_guard_objects_from;
_Noreturn void ivm_guard_refuse_object(size_t size);
int ivm_guard_zone_segment(size_t size);
void ivm_guard_zone_segment_recorded(void *segment, size_t size);
void ivm_guard_zone_segment_returned(void *segment);

/* Called once by src/guard.rs, so that the linker always takes this file,
 * wherever it comes in the link's order relative to V8. */
int ivm_guard_linked(void) {
    return 1;
}

/* Anonymous memory given read or write access counts as committed: a
 * mapping with no access is a reservation, which costs nothing until it is
 * committed, and one that replaces pages with no access (MAP_FIXED) gives
 * them back. */
void *mmap64(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    int commits = protection != PROT_NONE && (flags & MAP_ANONYMOUS);
    if (commits && !ivm_guard_commit(NULL, length)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *mapped = (void *)syscall(SYS_mmap, address, length, protection, flags, fd, offset);
    if (mapped != MAP_FAILED) {
        if (commits) {
            ivm_guard_committed(mapped, length);
        } else if (flags & MAP_FIXED) {
            ivm_guard_released(mapped, length);
        }
    }
    return mapped;
}

int mprotect(void *address, size_t length, int protection) {
    if (protection != PROT_NONE && !ivm_guard_commit(address, length)) {
        errno = ENOMEM;
        return -1;
    }
    int result = (int)syscall(SYS_mprotect, address, length, protection);
    if (result == 0 && protection == PROT_NONE) {
        ivm_guard_released(address, length);
    }
    return result;
}

int munmap(void *address, size_t length) {
    int result = (int)syscall(SYS_munmap, address, length);
    if (result == 0) {
        ivm_guard_released(address, length);
    }
    return result;
}

/* V8's zones, the memory of its parsers and compilers (RegExp's among
 * them), take their segments from `malloc` through this function of V8's
 * (src/utils/allocation.cc), which nothing else calls, and give them back
 * to `free` from these (src/zone/zone.cc; `AccountingAllocator::
 * ReturnSegment` reaches `free` by a tail call, so the return address is
 * in its caller). Their lengths in the pinned V8 (`nm -S`) bound the
 * return addresses of their calls; the destructor's two names are one
 * function. */
extern char _ZN2v88internal21AllocAtLeastWithRetryEm[];
extern char _ZN2v88internal4ZoneD1Ev[];
extern char _ZN2v88internal4ZoneD2Ev[];
extern char _ZN2v88internal4Zone9DeleteAllEv[];
extern char _ZN2v88internal4Zone5ResetEv[];
extern char _ZNK2v88internal12ZoneSnapshot7RestoreEPNS0_4ZoneE[];

static int called_from(void *from, const char *function, uintptr_t length) {
    return (uintptr_t)from - (uintptr_t)function < length;
}

void *__libc_malloc(size_t size);
void __libc_free(void *block);

/* `malloc`: a zone segment may be refused, or recorded (see
 * `ivm_guard_zone_segment`). V8 reaches its out-of-memory path when one is
 * refused. Every other allocation passes straight to the C library. */
void *malloc(size_t size) {
    if (!called_from(__builtin_return_address(0), _ZN2v88internal21AllocAtLeastWithRetryEm, 0x5f)) {
        return __libc_malloc(size);
    }
    int verdict = ivm_guard_zone_segment(size);
    if (verdict == 0) {
        return NULL;
    }
    void *block = __libc_malloc(size);
    if (block != NULL && verdict == 2) {
        ivm_guard_zone_segment_recorded(block, malloc_usable_size(block));
    }
    return block;
}

/* The calls of `free` that give a zone segment back, by the function they
 * come from and its length. */
static const struct {
    const char *function;
    uintptr_t length;
} zone_frees[] = {
    {_ZN2v88internal4ZoneD1Ev, 0x98},
    {_ZN2v88internal4ZoneD2Ev, 0x98},
    {_ZN2v88internal4Zone9DeleteAllEv, 0x98},
    {_ZN2v88internal4Zone5ResetEv, 0x10b},
    {_ZNK2v88internal12ZoneSnapshot7RestoreEPNS0_4ZoneE, 0x81},
};
#define ZONE_FREES (sizeof zone_frees / sizeof zone_frees[0])

/* The span of code that holds them (all of zone.cc, next to each other in
 * the pinned V8), found once at load: one comparison then passes every
 * other `free` on. Until it is found the span is empty, which is right: no
 * zone segment is recorded before V8 runs an isolate. */
static uintptr_t zone_frees_start;
static uintptr_t zone_frees_length;

__attribute__((constructor)) static void find_zone_frees(void) {
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (size_t i = 0; i < ZONE_FREES; i++) {
        uintptr_t function = (uintptr_t)zone_frees[i].function;
        start = function < start ? function : start;
        end = function + zone_frees[i].length > end ? function + zone_frees[i].length : end;
    }
    zone_frees_start = start;
    zone_frees_length = end - start;
}

/* Out of line and cold: `free` itself stays a comparison and a jump. */
__attribute__((noinline, cold)) static int zone_free_site(void *from) {
    for (size_t i = 0; i < ZONE_FREES; i++) {
        if (called_from(from, zone_frees[i].function, zone_frees[i].length)) {
            return 1;
        }
    }
    return 0;
}

/* `free`: a zone segment given back is forgotten (see
 * `ivm_guard_zone_segment_returned`). */
void free(void *block) {
    void *from = __builtin_return_address(0);
    if (block != NULL && (uintptr_t)from - zone_frees_start < zone_frees_length && zone_free_site(from)) {
        ivm_guard_zone_segment_returned(block);
    }
    __libc_free(block);
}

/* `operator new(size_t)`, which V8 calls for its C++ containers (such as
 * JSON.parse's stack of open arrays) and which may not return null. */
static void *allocate_object(size_t size) {
    if (size >= ivm_guard_objects_from && size > ivm_guard_object_limit()) {
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
