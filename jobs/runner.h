/*
 * runner.h - the job process of honeydue-worker (runner.c): what each
 * process of the worker's pool runs.
 */
#ifndef HD_RUNNER_H
#define HD_RUNNER_H

/* Read HONEYDUE_JOB_LEASE_SECONDS. The supervisor calls it before forking
 * and after every reload, so each process starts with the current value. */
void runner_configure(void);

/* Take and run jobs until a stop signal; the process's exit status. */
int runner_loop(void);

#endif
