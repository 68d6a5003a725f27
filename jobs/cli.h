/*
 * cli.h - the commands of honeydue-worker run from a shell: `jobs ...`
 * (cli.c) and `storage ...` (cli_storage.c).
 */
#ifndef HD_CLI_H
#define HD_CLI_H

/* Run `jobs ARGV[0..ARGC)`; the exit status (2 with a usage line on a
 * command it does not know). */
int cli_jobs(int argc, char **argv);

/* Run `storage ARGV[0..ARGC)` (today `copy-local DIR`); the exit status (2
 * with a usage line on a command it does not know). */
int cli_storage(int argc, char **argv);

#endif
