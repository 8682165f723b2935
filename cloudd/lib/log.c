/* log.c -- leveled logging to stderr and, optionally, syslog */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "cloudd";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_to_syslog;

static const char *const log_names[] = { "error", "warn", "info", "debug" };
static const int log_priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_init(const char *ident, enum log_level level, int use_syslog)
{
	log_ident = ident;
	log_threshold = level;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

int log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	char stamp[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, now.tv_nsec / 1000000L,
		log_ident, log_names[level], line);
	if (log_to_syslog)
		syslog(log_priorities[level], "%s", line);
}
