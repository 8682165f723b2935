/* metrics.c -- the /metrics page: build info, uptime, process figures, HTTP and guest counters */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudd.h"
#include "filter.h"
#include "converge.h"
#include "fsutil.h"

/*
 * /proc/<pid>/stat fields after the command name (which may contain spaces
 * and parentheses, so parsing starts after the last ')'): utime is field 14,
 * stime 15, starttime 22, rss 24 (pages).
 */
int metrics_process(const char *procdir, struct buf *out)
{
	char path[PATH_MAX];
	struct buf stat = BUF_INIT;
	unsigned long long utime = 0, stime = 0, rss = 0;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	const char *p;
	int rc = -1;

	if (fs_path(path, sizeof(path), "%s/stat", procdir) < 0 ||
	    fs_read_file(path, 4096, &stat) < 0)
		goto out;
	p = strrchr(stat.data, ')');
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
				       " %*d %*d %*d %*d %*d %*d %*u %*u %llu",
				&utime, &stime, &rss) != 3) {
		errno = EINVAL;
		goto out;
	}
	rc = buf_printf(out,
			"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
			"# TYPE process_resident_memory_bytes gauge\n"
			"process_resident_memory_bytes %llu\n"
			"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
			"# TYPE process_cpu_seconds_total counter\n"
			"process_cpu_seconds_total %.2f\n",
			rss * (unsigned long long)page, (double)(utime + stime) / (double)ticks);
out:
	buf_free(&stat);
	return rc;
}

int metrics_render(struct cloudd *d, struct buf *out)
{
	int rc = 0;

	rc |= buf_printf(out,
			 "# HELP cloudd_build_info The version of cloudd.\n"
			 "# TYPE cloudd_build_info gauge\n"
			 "cloudd_build_info{version=\"%s\"} 1\n"
			 "# HELP cloudd_uptime_seconds Seconds since cloudd started.\n"
			 "# TYPE cloudd_uptime_seconds gauge\n"
			 "cloudd_uptime_seconds %.3f\n"
			 "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n"
			 "# TYPE process_start_time_seconds gauge\n"
			 "process_start_time_seconds %lld\n",
			 CLOUDD_VERSION, cloudd_uptime(d), (long long)d->started_wall);
	if (metrics_process("/proc/self", out) < 0)
		log_warn("metrics: /proc/self/stat: %s", strerror(errno));
	rc |= httpd_metrics(d->http, "cloudd_http_requests_total", out);
	if (d->conv) {
		rc |= converge_metrics(d->conv, out);
		rc |= filter_metrics(out); /* drops per port and reason (filter.h) */
	}
	return rc ? -1 : 0;
}
