/* What /proc tells of a process's threads, for tests that check where
 * I/O threads run and under which identity. */
#ifndef TERN_TESTS_UNIT_PROC_THREADS_H
#define TERN_TESTS_UNIT_PROC_THREADS_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* A line of /proc/PID/status: does KEY's value contain WANT? */
static inline bool proc_status_is(pid_t pid, const char *key, const char *want)
{
	char path[64], line[256];
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			ok = strstr(line + strlen(key), want) != NULL;
	if (f)
		fclose(f);
	return ok;
}

/* Every thread of PID named tern-blk but its main one (the queue
 * threads) allowed on CPU alone: how many, or -1 when one is allowed on
 * more or other CPUs. CPU -1: how many, wherever they run. */
static inline int queue_threads_on(pid_t pid, int cpu)
{
	char path[64], comm[32], want[16];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	snprintf(want, sizeof(want), "\t%d\n", cpu);	/* the whole list */
	d = opendir(path);
	while (d && (e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		FILE *f;

		if (tid <= 0 || tid == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid,
			 (int)tid);
		f = fopen(path, "r");
		comm[0] = '\0';
		if (f && !fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		if (f)
			fclose(f);
		if (strcmp(comm, "tern-blk\n"))
			continue;
		if (cpu >= 0 &&
		    !proc_status_is(tid, "Cpus_allowed_list:", want)) {
			n = -1;
			break;
		}
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

#endif
