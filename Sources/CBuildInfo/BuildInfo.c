#include "BuildInfo.h"

// The default, for builds that did not go through make. `make` writes build_commit.c beside
// this file (gitignored) with the same function, not weak, which the linker then takes
// instead: a C target, so that no compiler flag (and no unsafeFlags) carries the commit, and
// a changed commit recompiles one small file and relinks, nothing else.
__attribute__((weak)) const char *graft_build_commit(void) { return ""; }
