/*
 * Raw SQLite commit rate on the disk that holds the store: one small
 * INSERT per BEGIN IMMEDIATE ... COMMIT, WAL, synchronous=FULL, the same
 * durability settings the module uses.
 *
 *   sqlite_commits DB_PATH SECONDS
 *
 * prints "commits N seconds S rate R"
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite_commits: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}


int
main(int argc, char **argv)
{
    double         secs, start, t;
    sqlite3       *db;
    sqlite3_stmt  *ins;
    unsigned long  n;
    char           value[160];

    if (argc != 3) {
        fprintf(stderr, "usage: sqlite_commits DB_PATH SECONDS\n");
        return 2;
    }

    secs = atof(argv[2]);

    check(NULL, sqlite3_open(argv[1], &db), "open");
    sqlite3_busy_timeout(db, 5000);

    check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL;"
                               "PRAGMA synchronous=FULL;"
                               "CREATE TABLE IF NOT EXISTS t ("
                               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               " user_id TEXT NOT NULL, value BLOB,"
                               " created_at INTEGER NOT NULL)",
                          NULL, NULL, NULL), "schema");

    check(db, sqlite3_prepare_v2(db, "INSERT INTO t (user_id, value,"
                                     " created_at) VALUES (?1, ?2, ?3)",
                                 -1, &ins, NULL), "prepare");

    /* a sealed value is about as long as this */
    memset(value, 'x', sizeof(value));

    n = 0;
    start = now();

    do {
        check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
              "begin");

        sqlite3_bind_text(ins, 1, "bench-user", -1, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 2, value, sizeof(value), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, (sqlite3_int64) time(NULL));
        check(db, sqlite3_step(ins), "insert");
        sqlite3_reset(ins);

        check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
        n++;

        t = now() - start;
    } while (t < secs);

    printf("commits %lu seconds %.3f rate %.1f\n", n, t, n / t);

    sqlite3_finalize(ins);
    sqlite3_close(db);

    return 0;
}
