/*
 * cli.h - the `honeydue-worker jobs ...` commands (cli.c).
 */
#ifndef HD_CLI_H
#define HD_CLI_H

/* Run `jobs ARGV[0..ARGC)`; the exit status (2 with a usage line on a
 * command it does not know). */
int cli_jobs(int argc, char **argv);

#endif
