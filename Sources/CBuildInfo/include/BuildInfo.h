#ifndef GRAFT_BUILD_INFO_H
#define GRAFT_BUILD_INFO_H

/// The commit the executables were built from, as `git describe` would abbreviate it
/// ("1a2b3c4", "1a2b3c4-dirty" when the work tree had uncommitted changes), or "" when the
/// build did not say: `make` writes it (build_commit.c, never committed) before every build;
/// a plain `swift build` of a tree where make never ran has only the empty default.
const char *graft_build_commit(void);

#endif
