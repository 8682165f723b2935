/* filter.c -- guest filters: applying the table with nft, its state, metrics, status, and `cloudd filter` */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "fsutil.h"
#include "log.h"
#include "port.h"

#define FILTER_NFT_TIMEOUT_MS 60000
#define FILTER_NFT_MAX_OUTPUT (64u << 20) /* bytes of nft output read at most */

/* --- running nft ------------------------------------------------------------- */

static const char *filter_nft_path(void)
{
	const char *path = getenv("CLOUDD_NFT");

	return path && *path ? path : FILTER_NFT_DEFAULT;
}

static double filter_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* First line(s) of nft's diagnostics, without the trailing newline, into err. */
static void filter_nft_error(struct errmsg *err, const char *what, int status, const struct buf *errors)
{
	char text[400] = "";
	size_t len;

	if (errors->data != NULL) {
		snprintf(text, sizeof(text), "%s", errors->data);
		len = strlen(text);
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
			text[--len] = '\0';
	}
	if (WIFEXITED(status))
		errmsg_set(err, "", "%s: nft exited with status %d: %s", what, WEXITSTATUS(status),
			   text[0] ? text : "(no message)");
	else
		errmsg_set(err, "", "%s: nft killed by signal %d", what, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int filter_nft_run(const char *const *args, const char *input, struct buf *output, struct errmsg *err)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct buf errors = BUF_INIT;
	size_t input_len = input ? strlen(input) : 0, written = 0;
	double deadline = filter_now_ms() + FILTER_NFT_TIMEOUT_MS;
	int status = 0, rc = -1;
	const char *argv[16];
	size_t argc;
	pid_t pid;

	/* nft exiting early must not kill us with SIGPIPE while we feed it */
	signal(SIGPIPE, SIG_IGN);

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		errmsg_set(err, "", "pipe: %s", strerror(errno));
		goto out_close;
	}
	/* argv is built before fork: the child of a threaded daemon only calls dup2 and exec */
	argv[0] = filter_nft_path();
	for (argc = 1; args[argc - 1] && argc < sizeof(argv) / sizeof(argv[0]) - 1; argc++)
		argv[argc] = args[argc - 1];
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0) {
		errmsg_set(err, "", "fork: %s", strerror(errno));
		goto out_close;
	}
	if (pid == 0) {
		static const char msg[] = "cannot execute the nft program (CLOUDD_NFT or nft in PATH)\n";

		if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	close(errp[1]);
	in[0] = outp[1] = errp[1] = -1;
	if (input_len == 0) {
		close(in[1]);
		in[1] = -1;
	} else {
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	}

	/* feed stdin while draining stdout and stderr, so neither side blocks */
	while (outp[0] >= 0 || errp[0] >= 0) {
		struct pollfd fds[3];
		int nfds = 0, i, timeout = (int)(deadline - filter_now_ms());

		if (timeout <= 0) {
			kill(pid, SIGKILL);
			errmsg_set(err, "", "nft did not finish within %d s", FILTER_NFT_TIMEOUT_MS / 1000);
			waitpid(pid, &status, 0);
			goto out_close;
		}
		if (in[1] >= 0)
			fds[nfds++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (outp[0] >= 0)
			fds[nfds++] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
		if (errp[0] >= 0)
			fds[nfds++] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
		if (poll(fds, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < nfds; i++) {
			char chunk[65536];
			ssize_t n;

			if (fds[i].revents == 0)
				continue;
			if (fds[i].fd == in[1]) {
				n = write(in[1], input + written, input_len - written);
				if (n > 0)
					written += (size_t)n;
				if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input_len) {
					close(in[1]);
					in[1] = -1;
				}
				continue;
			}
			n = read(fds[i].fd, chunk, sizeof(chunk));
			if (n > 0) {
				struct buf *dst = fds[i].fd == outp[0] ? output : &errors;

				if (dst != NULL && dst->len + (size_t)n <= FILTER_NFT_MAX_OUTPUT)
					buf_append(dst, chunk, (size_t)n);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				if (fds[i].fd == outp[0]) {
					close(outp[0]);
					outp[0] = -1;
				} else {
					close(errp[0]);
					errp[0] = -1;
				}
			}
		}
	}
	if (in[1] >= 0) {
		close(in[1]);
		in[1] = -1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else
		filter_nft_error(err, args[0] && strcmp(args[0], "-f") == 0 ? "applying the filter table" : "nft",
				 status, &errors);

out_close:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	buf_free(&errors);
	return rc;
}

int filter_nft_apply(const char *script, struct errmsg *err)
{
	static const char *const args[] = { "-f", "-", NULL };

	return filter_nft_run(args, script, NULL, err);
}

/* --- the applied state ------------------------------------------------------- */

static pthread_mutex_t filter_lock = PTHREAD_MUTEX_INITIALIZER;
static struct filter_model filter_applied;
static int filter_have_applied;
static struct {
	const char *mode;	/* "full", "incremental", "unchanged" */
	double duration_ms;
	double generate_ms;	/* of duration_ms: computing the script; the rest is nft */
	time_t at;
	char error[600];
	unsigned long full, incremental, failures;
} filter_last;

/* The CLI's --from: what the table holds already, so the next sync is incremental. */
static int filter_assume_applied(const struct filter_model *model)
{
	struct filter_model copy;

	if (filter_model_copy(&copy, model) < 0)
		return -1;
	pthread_mutex_lock(&filter_lock);
	filter_model_free(&filter_applied);
	filter_applied = copy;
	filter_have_applied = 1;
	pthread_mutex_unlock(&filter_lock);
	return 0;
}

/* Generates the script filter_sync would apply now (for --dry-run). */
static int filter_plan(const struct filter_model *model, struct buf *script)
{
	int rc;

	pthread_mutex_lock(&filter_lock);
	if (filter_have_applied)
		rc = filter_gen_update(&filter_applied, model, script);
	else
		rc = filter_gen_full(model, script);
	pthread_mutex_unlock(&filter_lock);
	return rc;
}

int filter_sync(const struct filter_model *model, struct errmsg *err)
{
	struct buf script = BUF_INIT;
	struct filter_model copy;
	const char *mode = "full";
	double start = filter_now_ms();
	char text[600];
	int rc = -1;

	if (filter_model_copy(&copy, model) < 0) {
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	pthread_mutex_lock(&filter_lock);
	filter_last.generate_ms = 0;
	if (filter_have_applied) {
		double gen_start = filter_now_ms();

		if (filter_gen_update(&filter_applied, model, &script) < 0)
			goto out_nomem;
		filter_last.generate_ms += filter_now_ms() - gen_start;
		mode = script.len ? "incremental" : "unchanged";
		if (script.len) {
			struct errmsg inc = { 0 };

			if (filter_nft_apply(script.data, &inc) < 0) {
				/* the table is as it was (one transaction): replace it whole */
				log_warn("filter: incremental update refused (%s); replacing the table",
					 errmsg_str(&inc, text, sizeof(text)));
				mode = "full";
			}
		}
	}
	if (strcmp(mode, "full") == 0) {
		double gen_start = filter_now_ms();

		buf_reset(&script);
		if (filter_gen_full(model, &script) < 0)
			goto out_nomem;
		filter_last.generate_ms += filter_now_ms() - gen_start;
		if (filter_nft_apply(script.data, err) < 0) {
			filter_last.failures++;
			snprintf(filter_last.error, sizeof(filter_last.error), "%s", errmsg_str(err, text, sizeof(text)));
			filter_last.at = time(NULL);
			log_error("filter: %s", filter_last.error);
			filter_model_free(&copy);
			goto out_unlock;
		}
	}
	filter_model_free(&filter_applied);
	filter_applied = copy;
	filter_have_applied = 1;
	filter_last.mode = mode;
	filter_last.duration_ms = filter_now_ms() - start;
	filter_last.at = time(NULL);
	filter_last.error[0] = '\0';
	if (strcmp(mode, "full") == 0)
		filter_last.full++;
	else if (strcmp(mode, "incremental") == 0)
		filter_last.incremental++;
	if (strcmp(mode, "unchanged") != 0)
		log_info("filter: %s apply of %zu ports, %zu groups in %.1f ms", mode, model->n_ports,
			 model->groups.n_groups, filter_last.duration_ms);
	rc = 0;
	goto out_unlock;

out_nomem:
	errmsg_set(err, "", "out of memory");
	filter_model_free(&copy);
out_unlock:
	pthread_mutex_unlock(&filter_lock);
	buf_free(&script);
	return rc;
}

/* --- reading the drop counters -------------------------------------------------- */

/*
 * The elements of the drops set as a JSON array of {port, reason, packets,
 * bytes}; NULL when the table or set does not exist (err says why).
 */
static json_t *filter_read_drops(struct errmsg *err)
{
	static const char *const args[] = { "-j", "list", "set", FILTER_TABLE_FAMILY, FILTER_TABLE_NAME, "drops", NULL };
	struct buf output = BUF_INIT;
	json_t *doc = NULL, *result = NULL, *item, *elems;
	json_error_t jerr;
	size_t i, j;

	if (filter_nft_run(args, NULL, &output, err) < 0)
		goto out;
	doc = json_loadb(output.data ? output.data : "", output.len, 0, &jerr);
	if (doc == NULL) {
		errmsg_set(err, "", "nft -j output: %s", jerr.text);
		goto out;
	}
	result = json_array();
	if (result == NULL)
		goto out;
	json_array_foreach(json_object_get(doc, "nftables"), i, item) {
		json_t *elem;

		elems = json_object_get(json_object_get(item, "set"), "elem");
		json_array_foreach(elems, j, elem) {
			json_t *e = json_object_get(elem, "elem");
			json_t *key = json_object_get(json_object_get(e, "val"), "concat");
			json_t *counter = json_object_get(e, "counter");
			const char *port = json_string_value(json_array_get(key, 0));
			const char *reason = json_string_value(json_array_get(key, 1));

			if (port == NULL || reason == NULL || counter == NULL)
				continue;
			json_array_append_new(result, json_pack("{s:s,s:s,s:I,s:I}", "port", port, "reason", reason,
								"packets", json_integer_value(json_object_get(counter, "packets")),
								"bytes", json_integer_value(json_object_get(counter, "bytes"))));
		}
	}
out:
	json_decref(doc);
	buf_free(&output);
	return result;
}

static size_t filter_rule_count(const struct filter_model *model)
{
	size_t i, n = 0;

	for (i = 0; i < model->groups.n_groups; i++)
		n += model->groups.groups[i].n_rules;
	return n;
}

int filter_metrics(struct buf *out)
{
	struct errmsg err = { 0 };
	json_t *drops = filter_read_drops(&err), *d;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&filter_lock);
	rc |= buf_puts(out, "# HELP cloudd_filter_drops_total Packets dropped by the guest filters, by port and reason.\n"
			    "# TYPE cloudd_filter_drops_total counter\n");
	json_array_foreach(drops, i, d) {
		const char *port = json_string_value(json_object_get(d, "port"));
		const struct filter_port *p = filter_have_applied ? filter_model_port(&filter_applied, port) : NULL;

		if (filter_have_applied && p == NULL)
			continue; /* a port that is gone */
		if (p)
			rc |= buf_printf(out, "cloudd_filter_drops_total{port=\"%s\",instance=\"%s\",nic=\"%d\",reason=\"%s\"} %lld\n",
					 port, p->instance, p->nic, json_string_value(json_object_get(d, "reason")),
					 (long long)json_integer_value(json_object_get(d, "packets")));
		else
			rc |= buf_printf(out, "cloudd_filter_drops_total{port=\"%s\",reason=\"%s\"} %lld\n", port,
					 json_string_value(json_object_get(d, "reason")),
					 (long long)json_integer_value(json_object_get(d, "packets")));
	}
	rc |= buf_printf(out, "# HELP cloudd_filter_table_present 1 when the filter table exists.\n"
			      "# TYPE cloudd_filter_table_present gauge\n"
			      "cloudd_filter_table_present %d\n", drops != NULL);
	if (filter_have_applied)
		rc |= buf_printf(out, "# HELP cloudd_filter_ports Guest ports filtered.\n# TYPE cloudd_filter_ports gauge\n"
				      "cloudd_filter_ports %zu\n"
				      "# HELP cloudd_filter_groups Security groups in the table.\n# TYPE cloudd_filter_groups gauge\n"
				      "cloudd_filter_groups %zu\n"
				      "# HELP cloudd_filter_rules Security group rules in the table.\n# TYPE cloudd_filter_rules gauge\n"
				      "cloudd_filter_rules %zu\n",
				 filter_applied.n_ports, filter_applied.groups.n_groups, filter_rule_count(&filter_applied));
	rc |= buf_printf(out, "# HELP cloudd_filter_applies_total Filter table updates, by kind.\n"
			      "# TYPE cloudd_filter_applies_total counter\n"
			      "cloudd_filter_applies_total{mode=\"full\"} %lu\n"
			      "cloudd_filter_applies_total{mode=\"incremental\"} %lu\n"
			      "# HELP cloudd_filter_apply_failures_total Filter updates nft refused (the previous table stayed).\n"
			      "# TYPE cloudd_filter_apply_failures_total counter\n"
			      "cloudd_filter_apply_failures_total %lu\n"
			      "# HELP cloudd_filter_last_apply_seconds Duration of the last filter update.\n"
			      "# TYPE cloudd_filter_last_apply_seconds gauge\n"
			      "cloudd_filter_last_apply_seconds %.6f\n",
			 filter_last.full, filter_last.incremental, filter_last.failures, filter_last.duration_ms / 1000.0);
	pthread_mutex_unlock(&filter_lock);
	json_decref(drops);
	return rc ? -1 : 0;
}

/* --- status ------------------------------------------------------------------ */

static json_t *filter_port_json(const struct filter_model *model, const struct filter_port *port, json_t *drops)
{
	char text[64];
	json_t *obj, *groups, *pd, *d;
	size_t i;

	(void)model;
	obj = json_object();
	groups = json_array();
	pd = json_object();
	if (obj == NULL || groups == NULL || pd == NULL) {
		json_decref(obj);
		json_decref(groups);
		json_decref(pd);
		return NULL;
	}
	json_object_set_new(obj, "name", json_string(port->ifname));
	json_object_set_new(obj, "instance", json_string(port->instance));
	json_object_set_new(obj, "nic", json_integer(port->nic));
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", port->mac[0], port->mac[1], port->mac[2],
		 port->mac[3], port->mac[4], port->mac[5]);
	json_object_set_new(obj, "mac", json_string(text));
	if (port->has_ipv4)
		json_object_set_new(obj, "ipv4", json_string(inet_ntop(AF_INET, port->ipv4, text, sizeof(text))));
	if (port->has_ipv6)
		json_object_set_new(obj, "ipv6", json_string(inet_ntop(AF_INET6, port->ipv6, text, sizeof(text))));
	json_object_set_new(obj, "ipv6_link_local", json_string(inet_ntop(AF_INET6, port->ipv6_ll, text, sizeof(text))));
	for (i = 0; i < port->n_groups; i++)
		json_array_append_new(groups, json_string(port->groups[i]));
	json_object_set_new(obj, "security_groups", groups);
	json_array_foreach(drops, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "port")), port->ifname) == 0)
			json_object_set(pd, json_string_value(json_object_get(d, "reason")), json_object_get(d, "packets"));
	}
	json_object_set_new(obj, "drops", pd);
	return obj;
}

static json_t *filter_group_json(const struct secgroup *group)
{
	char text[64];
	json_t *obj = json_object(), *members = json_array();
	size_t i, in = 0, eg = 0;

	if (obj == NULL || members == NULL) {
		json_decref(obj);
		json_decref(members);
		return NULL;
	}
	for (i = 0; i < group->n_rules; i++) {
		if (group->rules[i].direction == SG_INGRESS)
			in++;
		else
			eg++;
	}
	for (i = 0; i < group->n_members; i++)
		json_array_append_new(members, json_string(sg_addr_str(&group->members[i], 0, text, sizeof(text))));
	json_object_set_new(obj, "id", json_string(group->id));
	json_object_set_new(obj, "ingress_rules", json_integer((json_int_t)in));
	json_object_set_new(obj, "egress_rules", json_integer((json_int_t)eg));
	json_object_set_new(obj, "egress", json_string(eg ? "restricted" : "open"));
	json_object_set_new(obj, "members", members);
	return obj;
}

json_t *filter_status_json(void)
{
	struct errmsg err = { 0 };
	json_t *drops = filter_read_drops(&err), *status, *ports, *groups, *last, *all, *d;
	char text[600];
	size_t i;

	status = json_object();
	ports = json_array();
	groups = json_array();
	last = json_object();
	all = json_array();
	if (status == NULL || ports == NULL || groups == NULL || last == NULL || all == NULL)
		goto err;
	pthread_mutex_lock(&filter_lock);
	json_object_set_new(status, "table", json_string(FILTER_TABLE_FAMILY " " FILTER_TABLE_NAME));
	json_object_set_new(status, "present", json_boolean(drops != NULL));
	if (drops == NULL)
		json_object_set_new(status, "table_error", json_string(errmsg_str(&err, text, sizeof(text))));
	json_object_set_new(status, "applied", json_boolean(filter_have_applied));
	for (i = 0; filter_have_applied && i < filter_applied.n_ports; i++)
		json_array_append_new(ports, filter_port_json(&filter_applied, &filter_applied.ports[i], drops));
	for (i = 0; filter_have_applied && i < filter_applied.groups.n_groups; i++)
		json_array_append_new(groups, filter_group_json(&filter_applied.groups.groups[i]));
	json_object_set_new(last, "mode", filter_last.mode ? json_string(filter_last.mode) : json_null());
	json_object_set_new(last, "at", json_integer((json_int_t)filter_last.at));
	json_object_set_new(last, "duration_ms", json_real(filter_last.duration_ms));
	json_object_set_new(last, "generate_ms", json_real(filter_last.generate_ms));
	json_object_set_new(last, "error", filter_last.error[0] ? json_string(filter_last.error) : json_null());
	json_object_set_new(last, "full", json_integer((json_int_t)filter_last.full));
	json_object_set_new(last, "incremental", json_integer((json_int_t)filter_last.incremental));
	json_object_set_new(last, "failures", json_integer((json_int_t)filter_last.failures));
	pthread_mutex_unlock(&filter_lock);
	json_array_foreach(drops, i, d)
		json_array_append(all, d);
	json_object_set_new(status, "ports", ports);
	json_object_set_new(status, "security_groups", groups);
	json_object_set_new(status, "last_apply", last);
	json_object_set_new(status, "drops", all);
	json_decref(drops);
	return status;

err:
	json_decref(drops);
	json_decref(status);
	json_decref(ports);
	json_decref(groups);
	json_decref(last);
	json_decref(all);
	return NULL;
}

/* --- cloudd filter ------------------------------------------------------------- */

#define FILTER_EX_OK 0
#define FILTER_EX_USAGE 100
#define FILTER_EX_FAIL 111

static void filter_usage(FILE *to)
{
	fprintf(to,
		"usage: cloudd filter COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  apply --state FILE [--from FILE] [--dry-run]\n"
		"                  make the filter table match the desired-state FILE in one\n"
		"                  transaction: replace the table whole, or with --from (the\n"
		"                  document the table was built from) apply only the difference,\n"
		"                  as the daemon does; --dry-run prints the nft script instead\n"
		"  check --state FILE   validate the filter part of FILE\n"
		"  status [--state FILE]   the filter state as GET /v1/filters returns it\n"
		"  metrics [--state FILE]  the filter metrics as /metrics shows them\n"
		"  port INSTANCE-ID NIC-INDEX   print the NIC's host interface name\n"
		"  flush           delete the filter table (every guest port unfiltered)\n"
		"\n"
		"Environment: CLOUDD_NFT names the nft program (default: nft in PATH).\n"
		"Exit codes: 0 ok, 100 usage error or invalid document, 111 nft failed.\n");
}

static int filter_load(const char *path, struct filter_model *model)
{
	struct errmsg err = { 0 };
	struct state_doc doc;
	char msg[800];
	int rc;

	rc = state_load_filters(path, &doc, &err);
	if (rc == 0) {
		rc = filter_model_take_doc(&doc, model, &err);
		state_free(&doc);
	}
	if (rc < 0)
		fprintf(stderr, "cloudd filter: %s: %s\n", path, errmsg_str(&err, msg, sizeof(msg)));
	return rc;
}

int filter_cli(int argc, char **argv)
{
	const char *state = NULL, *from = NULL, *cmd;
	struct filter_model model = { 0 }, old = { 0 };
	int dry_run = 0, i, rc = FILTER_EX_OK;
	struct errmsg err = { 0 };
	char text[800];

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		filter_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? FILTER_EX_USAGE : FILTER_EX_OK;
	}
	cmd = argv[1];
	for (i = 2; i < argc && strcmp(cmd, "port") != 0; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
			state = argv[++i];
		} else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			from = argv[++i];
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry_run = 1;
		} else {
			fprintf(stderr, "cloudd filter: unknown or incomplete option '%s' (see cloudd filter --help)\n", argv[i]);
			return FILTER_EX_USAGE;
		}
	}

	if (strcmp(cmd, "apply") == 0 || strcmp(cmd, "check") == 0) {
		double start = filter_now_ms();

		if (state == NULL) {
			fprintf(stderr, "cloudd filter %s: --state FILE is required\n", cmd);
			return FILTER_EX_USAGE;
		}
		if (filter_load(state, &model) < 0)
			return FILTER_EX_USAGE;
		if (strcmp(cmd, "check") == 0) {
			printf("%s: ok (%zu ports, %zu groups, %zu rules)\n", state, model.n_ports, model.groups.n_groups,
			       filter_rule_count(&model));
			goto out;
		}
		if (from != NULL) {
			if (filter_load(from, &old) < 0) {
				rc = FILTER_EX_USAGE;
				goto out;
			}
			if (filter_assume_applied(&old) < 0) {
				fprintf(stderr, "cloudd filter: out of memory\n");
				rc = FILTER_EX_FAIL;
				goto out;
			}
		}
		if (dry_run) {
			struct buf script = BUF_INIT;

			if (filter_plan(&model, &script) < 0) {
				fprintf(stderr, "cloudd filter: out of memory\n");
				rc = FILTER_EX_FAIL;
			} else if (script.len) {
				fwrite(script.data, 1, script.len, stdout);
			}
			buf_free(&script);
			goto out;
		}
		if (filter_sync(&model, &err) < 0) {
			fprintf(stderr, "cloudd filter: %s\n", errmsg_str(&err, text, sizeof(text)));
			rc = FILTER_EX_FAIL;
			goto out;
		}
		fprintf(stderr, "cloudd filter: %s apply: %zu ports, %zu groups, %zu rules in %.1f ms "
			"(script %.1f ms, nft %.1f ms; %.1f ms with reading the documents)\n",
			filter_last.mode, model.n_ports, model.groups.n_groups, filter_rule_count(&model),
			filter_last.duration_ms, filter_last.generate_ms, filter_last.duration_ms - filter_last.generate_ms,
			filter_now_ms() - start);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "metrics") == 0) {
		if (state != NULL) {
			if (filter_load(state, &model) < 0)
				return FILTER_EX_USAGE;
			if (filter_assume_applied(&model) < 0) {
				rc = FILTER_EX_FAIL;
				goto out;
			}
		}
		if (strcmp(cmd, "status") == 0) {
			json_t *status = filter_status_json();

			if (status == NULL || json_dumpf(status, stdout, JSON_INDENT(2)) < 0) {
				rc = FILTER_EX_FAIL;
			} else {
				printf("\n");
				if (json_is_false(json_object_get(status, "present")))
					rc = FILTER_EX_FAIL;
			}
			json_decref(status);
		} else {
			struct buf out = BUF_INIT;

			if (filter_metrics(&out) < 0)
				rc = FILTER_EX_FAIL;
			else
				fwrite(out.data, 1, out.len, stdout);
			buf_free(&out);
		}
	} else if (strcmp(cmd, "port") == 0) {
		char name[PORT_IFNAME_LEN];
		char *end = NULL;
		long index = argc == 4 ? strtol(argv[3], &end, 10) : -1;

		if (argc != 4 || end == argv[3] || *end != '\0' || index < 0 || index > 65535 ||
		    !secgroup_id_valid(argv[2]) || port_ifname(argv[2], (int)index, name, sizeof(name)) < 0) {
			fprintf(stderr, "usage: cloudd filter port INSTANCE-ID NIC-INDEX\n");
			return FILTER_EX_USAGE;
		}
		printf("%s\n", name);
		return FILTER_EX_OK;
	} else if (strcmp(cmd, "flush") == 0) {
		static const char *const args[] = { "delete", "table", FILTER_TABLE_FAMILY, FILTER_TABLE_NAME, NULL };

		if (filter_nft_run(args, NULL, NULL, &err) < 0) {
			fprintf(stderr, "cloudd filter: %s\n", errmsg_str(&err, text, sizeof(text)));
			rc = FILTER_EX_FAIL;
		}
	} else {
		fprintf(stderr, "cloudd filter: unknown command '%s' (see cloudd filter --help)\n", cmd);
		rc = FILTER_EX_USAGE;
	}
out:
	filter_model_free(&model);
	filter_model_free(&old);
	pthread_mutex_lock(&filter_lock);
	filter_model_free(&filter_applied);
	filter_have_applied = 0;
	pthread_mutex_unlock(&filter_lock);
	return rc;
}
