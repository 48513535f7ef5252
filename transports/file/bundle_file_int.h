/* bundle_file_int.h - helpers shared by bundle_file.c and usb.c. */
#ifndef TIDE_BUNDLE_FILE_INT_H
#define TIDE_BUNDLE_FILE_INT_H

#include "tide/bundle_file.h"

/* Writes data to path through a temporary file in the same directory
 * (".tmp-<random>-<name>"), fsync, rename, fsync of the directory.
 * TIDE_E_IO with the path and reason in err, TIDE_E_NOMEM. */
int tide__bundle_write_atomic(const char *path, const void *data, size_t len, tide_error *err);

/* Streams a bundle into a new temporary file ".tmp-<random>.tideb" in
 * dir (fsynced); *tmp_path (malloc'd) names it.  On error nothing is
 * left behind. */
int tide__bundle_export_tmp(tide_store *s, const tide_keypair *me, const tide_bundle_export_opts *o,
                            const char *dir, char **tmp_path, tide_bundle_export_stats *stats,
                            tide_error *err);

/* Renames tmp to path and fsyncs the directory (tmp is removed on
 * failure).  TIDE_E_IO, TIDE_E_NOMEM. */
int tide__bundle_commit_tmp(const char *tmp, const char *path, tide_error *err);

/* tide_bundle_import_file() on an open descriptor (not closed here);
 * name is used in messages. */
int tide__bundle_import_fd(tide_store *s, const tide_keypair *me, int fd, const char *name,
                           const tide_bundle_import_opts *o, tide_bundle_import_stats *stats,
                           tide_error *err);

#endif
