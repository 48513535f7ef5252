/* store_int.h - store internals shared with other core modules.
 *
 * Other core modules that keep their own tables in the store (the peer
 * clocks of the replication module, ...) reach the SQLite connection
 * here.  Rules for them:
 *   - create tables with CREATE TABLE IF NOT EXISTS, names prefixed by the
 *     module (e.g. `peer_clocks`), and never touch `feeds`, `messages`,
 *     `forks`, `contacts`;
 *   - do not change PRAGMAs (journal mode, synchronous, user_version);
 *   - do not leave a transaction open, and do not open one while
 *     tide_store_in_transaction() is 1 (statements then run inside the
 *     caller's batch, which is usually what one wants);
 *   - convert errors with tide__store_error(). */
#ifndef TIDE_STORE_INT_H
#define TIDE_STORE_INT_H

#include <sqlite3.h>

#include "tide/store.h"

/* The store's SQLite connection (owned by the store; valid until
 * tide_store_close()).  Inside a transaction the store keeps the latest
 * state of the feeds it appended to in memory; this call first writes it
 * back to `feeds`, so SQL run on the returned handle sees every append
 * (call it again after appending before reading `feeds` again). */
sqlite3 *tide__store_db(tide_store *s);

/* Converts the SQLite result rc of the last call on s's connection into
 * TIDE_E_STORE (TIDE_E_NOMEM for SQLITE_NOMEM), filling err with `what`
 * and sqlite3_errmsg().  Returns the TIDE_E_* code. */
int tide__store_error(tide_store *s, int rc, const char *what, tide_error *err);

#endif
