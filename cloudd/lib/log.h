/* log.h -- leveled logging to stderr and, optionally, syslog */
#ifndef CLOUDD_LOG_H
#define CLOUDD_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* ident: program name; use_syslog: also send every message to syslog(3). */
void log_init(const char *ident, enum log_level level, int use_syslog);
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info", "debug"; returns -1 on anything else. */
int log_level_parse(const char *name, enum log_level *level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
