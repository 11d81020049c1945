/* A new volume gets the image's content at its mount point, as docker
 * fills a volume a container creates (unless -v ...:nocopy). */
#ifndef BERTH_RUNTIME_COPYUP_H
#define BERTH_RUNTIME_COPYUP_H

#include <stdbool.h>

#include "board/err.h"

/* When the directory vol is empty and path (absolute, inside the
 * container) names a directory below the root fd root, copies its content
 * into vol: directories, files, symlinks (as links), fifos and devices, with
 * owners, modes and times; vol takes the directory's owner and mode. Every
 * component of path and every entry is opened without following symlinks:
 * a symlink on the way means "nothing to copy", and nothing outside root is
 * ever read. *copied says whether it copied. A volume with anything in it
 * is left alone. Returns 0 or -errno with err (a full disk, say). */
int rt_copyup(int root, const char *path, int vol, bool *copied, struct berr *err);

#endif
