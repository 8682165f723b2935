/* tenant.c -- cloudctl's tenant commands: accounts, API keys, instances, instance types, templates, SSH keys, security groups */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fsutil.h"

const char ctl_tenant_usage[] =
	"  account create NAME | list | show ID|NAME\n"
	"  api-key create [--account ID] [--role user|admin] [--name N]   (the secret is shown once)\n"
	"  api-key list [--account ID] | revoke ID\n"
	"  instance create NAME --type T --template T [--security-group G].. [--ssh-key K]..\n"
	"                  [--user-data FILE] [--label K=V].. [--anti-affinity GROUP] [--wait]\n"
	"  instance list [--node ID] | show ID|NAME | console ID|NAME [--bytes N]\n"
	"  instance start|stop|reboot|delete ID|NAME [--wait]\n"
	"  instance set-groups ID|NAME [GROUP..]   replace its security groups (none: no group)\n"
	"  instance-type list | set NAME --vcpus N --memory-mib N --disk-gib N | rm NAME\n"
	"  template register NAME --format raw|qcow2|kernel --url URL --sha256 HEX [--size BYTES]\n"
	"                  [--initrd-url URL --initrd-sha256 HEX] [--cmdline C] [--min-disk-gib N] [--public]\n"
	"  template upload NAME --format raw|qcow2|kernel FILE [--initrd FILE] [--cmdline C] [--min-disk-gib N] [--public]\n"
	"                  (streamed to the controller, which serves it to the nodes)\n"
	"  template list | show ID|NAME | rm ID|NAME\n"
	"  ssh-key add NAME KEYFILE | list | show ID|NAME | rm ID|NAME\n"
	"  security-group create NAME [--description D] | list | show G | rm G\n"
	"  security-group rule add G --direction ingress|egress --protocol tcp|udp|icmp|icmpv6|any\n"
	"                  [--ports N[-M]] [--cidr CIDR | --group G] [--icmp-type N] [--icmp-code N]\n"
	"  security-group rule rm G RULE-ID\n";

static const struct ctl_column account_cols[] = {
	{ "ID", "id", NULL }, { "NAME", "name", NULL }, { "INSTANCES", "instances", NULL },
	{ "KEYS", "api_keys", NULL }, { "CREATED", "created_at", NULL },
};
static const struct ctl_column key_cols[] = {
	{ "ID", "id", NULL }, { "ROLE", "role", NULL }, { "ACCOUNT", "account", NULL }, { "NAME", "name", NULL },
	{ "CREATED", "created_at", NULL }, { "REVOKED", "revoked_at", NULL },
};
static const struct ctl_column instance_cols[] = {
	{ "ID", "id", NULL },	      { "NAME", "name", NULL },	     { "STATE", "state", NULL },
	{ "POWER", "power", NULL },   { "TYPE", "type", NULL },	     { "IPV4", "ipv4", NULL },
	{ "NODE", "node", NULL },     { "ACCOUNT", "account", NULL },
};
static const struct ctl_column type_cols[] = {
	{ "NAME", "name", NULL }, { "VCPUS", "vcpus", NULL }, { "MEMORY-MIB", "memory_mib", NULL }, { "DISK-GIB", "disk_gib", NULL },
};
static const struct ctl_column template_cols[] = {
	{ "ID", "id", NULL }, { "NAME", "name", NULL }, { "FORMAT", "format", NULL }, { "PUBLIC", "public", NULL },
	{ "SIZE", "size", "bytes" }, { "URL", "url", NULL },
};
static const struct ctl_column sshkey_cols[] = {
	{ "ID", "id", NULL }, { "NAME", "name", NULL }, { "TYPE", "type", NULL }, { "BITS", "bits", NULL },
	{ "ACCOUNT", "account", NULL },
};
static const struct ctl_column sg_cols[] = {
	{ "ID", "id", NULL }, { "NAME", "name", NULL }, { "INSTANCES", "instances", NULL }, { "ACCOUNT", "account", NULL },
	{ "DESCRIPTION", "description", NULL },
};
static const struct ctl_column rule_cols[] = {
	{ "ID", "id", NULL },	       { "DIRECTION", "direction", NULL }, { "PROTOCOL", "protocol", NULL },
	{ "PORTS", "ports", NULL },    { "CIDR", "cidr", NULL },	   { "GROUP", "group", NULL },
	{ "ICMP-TYPE", "icmp_type", NULL },
};

#define NCOLS(c) (sizeof(c) / sizeof((c)[0]))

static int path_of(char *out, size_t len, const char *fmt, const char *a, const char *b)
{
	if (snprintf(out, len, fmt, a, b ? b : "") >= (int)len) {
		fprintf(stderr, "cloudctl: argument too long\n");
		return -1;
	}
	return 0;
}

static const struct ctl_flag key_filters[] = { { "--account", CTL_FLAG_QUERY, "account", NULL } };
static const struct ctl_flag instance_filters[] = {
	{ "--node", CTL_FLAG_QUERY, "node", NULL },
	{ "--account", CTL_FLAG_QUERY, "account", NULL },
};

/* list, show and rm of each collection (ctl_resource_run); their other commands are below */
static const struct ctl_resource accounts = {
	"account", "/v1/accounts", NULL, account_cols, NCOLS(account_cols), NULL, 0, 1, NULL,
};
static const struct ctl_resource api_keys = {
	"api-key", "/v1/api-keys", NULL, key_cols, NCOLS(key_cols), key_filters, NCOLS(key_filters), 0, "revoke",
};
static const struct ctl_resource instances = {
	"instance", "/v1/instances", NULL, instance_cols, NCOLS(instance_cols), instance_filters,
	NCOLS(instance_filters), 1, NULL, /* rm is an operation (below) */
};
static const struct ctl_resource instance_types = {
	"instance-type", "/v1/instance-types", NULL, type_cols, NCOLS(type_cols), NULL, 0, 0, "rm",
};
static const struct ctl_resource templates = {
	"template", "/v1/templates", NULL, template_cols, NCOLS(template_cols), NULL, 0, 1, "rm",
};
static const struct ctl_resource ssh_keys = {
	"ssh-key", "/v1/ssh-keys", NULL, sshkey_cols, NCOLS(sshkey_cols), NULL, 0, 1, "rm",
};
static const struct ctl_resource security_groups = {
	"security-group", "/v1/security-groups", NULL, sg_cols, NCOLS(sg_cols), NULL, 0,
	0, "rm", /* show prints the rules as a table (below) */
};

static int ctl_account(struct ctl_settings *s, int argc, char **argv)
{
	int rc;

	if (argc == 2 && strcmp(argv[0], "create") == 0)
		return ctl_request(s, "POST", "/v1/accounts", json_pack("{s:s}", "name", argv[1]));
	if ((rc = ctl_resource_run(s, &accounts, argc, argv)) >= 0)
		return rc;
	return ctl_usage_error("account: expected create NAME, list or show ID%s", "");
}

static int ctl_api_key(struct ctl_settings *s, int argc, char **argv)
{
	int rc;

	if ((rc = ctl_resource_run(s, &api_keys, argc, argv)) >= 0)
		return rc;
	if (argc >= 1 && strcmp(argv[0], "create") == 0) {
		static const struct ctl_flag flags[] = {
			{ "--account", CTL_FLAG_STRING, "account", NULL },
			{ "--role", CTL_FLAG_STRING, "role", NULL },
			{ "--name", CTL_FLAG_STRING, "name", NULL },
		};
		json_t *body = json_object(), *doc;
		if ((rc = ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 1, body, NULL, "api-key create"))) {
			json_decref(body);
			return rc;
		}
		rc = ctl_call(s, "POST", "/v1/api-keys", NULL, body, &doc);
		json_decref(body);
		if (rc)
			return rc;
		if (s->json) {
			ctl_print_json(doc);
		} else {
			/* a cloudctl configuration: the secret is not shown again */
			printf("# the secret is shown only now: keep this as a cloudctl configuration\n"
			       "url = %s\nkey = %s\nsecret = %s\n", s->url, json_string_value(json_object_get(doc, "id")),
			       json_string_value(json_object_get(doc, "secret")));
		}
		json_decref(doc);
		return 0;
	}
	return ctl_usage_error("api-key: expected create, list or revoke ID%s", "");
}

/* Prints the operation of a 202 answer, or follows it with --wait. */
static int operation_answer(struct ctl_settings *s, json_t *doc, int wait)
{
	char id[64];
	json_t *inst = json_object_get(doc, "instance");

	snprintf(id, sizeof(id), "%s", json_string_value(ctl_path(doc, "operation.id")) ?: "");
	if (!wait) {
		if (s->json)
			ctl_print_json(doc);
		else if (json_is_object(inst))
			printf("instance %s (%s) on node %s, %s: operation %s %s\n", json_string_value(json_object_get(inst, "name")),
			       json_string_value(json_object_get(inst, "id")), json_string_value(json_object_get(inst, "node")) ?: "-",
			       json_string_value(json_object_get(inst, "ipv4")) ?: "no address", id,
			       json_string_value(ctl_path(doc, "operation.state")) ?: "");
		else
			printf("operation %s %s%s%s\n", id, json_string_value(ctl_path(doc, "operation.state")) ?: "",
			       json_string_value(ctl_path(doc, "operation.reason")) ? ": " : "",
			       json_string_value(ctl_path(doc, "operation.reason")) ?: "");
		return strcmp(json_string_value(ctl_path(doc, "operation.state")) ?: "", "failure") == 0 ? EXIT_API : 0;
	}
	if (json_is_object(inst) && !s->json)
		printf("instance %s (%s) on node %s, %s\n", json_string_value(json_object_get(inst, "name")),
		       json_string_value(json_object_get(inst, "id")), json_string_value(json_object_get(inst, "node")) ?: "-",
		       json_string_value(json_object_get(inst, "ipv4")) ?: "no address");
	return ctl_wait(s, id);
}

static int ctl_instance(struct ctl_settings *s, int argc, char **argv)
{
	char path[256];
	json_t *doc;
	int rc, wait = 0;

	if (argc < 1)
		return ctl_usage_error("instance: expected create, list, show, set-groups, start, stop, reboot, delete or console%s", "");
	if (strcmp(argv[0], "create") == 0 && argc >= 2) {
		static const struct ctl_flag flags[] = {
			{ "--type", CTL_FLAG_STRING, "type", NULL },
			{ "--template", CTL_FLAG_STRING, "template", NULL },
			{ "--security-group", CTL_FLAG_LIST, "security_groups", NULL },
			{ "--ssh-key", CTL_FLAG_LIST, "ssh_keys", NULL },
			{ "--anti-affinity", CTL_FLAG_STRING, "anti_affinity", NULL },
			{ "--account", CTL_FLAG_STRING, "account", NULL },
			{ "--label", CTL_FLAG_MAP, "node_labels", NULL },
			{ "--user-data", CTL_FLAG_FILE, "user_data", NULL },
		};
		json_t *body = json_pack("{s:s}", "name", argv[1]);
		for (int i = 2; i < argc; i++) {
			int r = ctl_flag_take(flags, CTL_NFLAGS(flags), argc, argv, &i, body, NULL);
			if (r == 0 && strcmp(argv[i], "--wait") == 0) {
				wait = 1;
			} else if (r <= 0) {
				json_decref(body);
				return r < 0 ? EXIT_USAGE : ctl_usage_error("instance create: unknown argument %s", argv[i]);
			}
		}
		rc = ctl_call(s, "POST", "/v1/instances", NULL, body, &doc);
		json_decref(body);
		if (rc)
			return rc;
		rc = operation_answer(s, doc, wait);
		json_decref(doc);
		return rc;
	}
	if ((rc = ctl_resource_run(s, &instances, argc, argv)) >= 0)
		return rc;
	if (argc < 2)
		return ctl_usage_error("instance %s: expected an instance id or name", argv[0]);
	if ((rc = ctl_resource_path(&instances, argv[1], path, sizeof(path))))
		return rc;
	if (strcmp(argv[0], "console") == 0) {
		struct ctl_query q = { .n = 0 };
		struct httpc_cred cred = { .url = s->url, .key_id = s->key, .secret = s->secret };
		struct httpc_response r;
		static const struct ctl_flag flags[] = { { "--bytes", CTL_FLAG_QUERY, "bytes", NULL } };
		char cpath[300];
		if ((rc = ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 2, NULL, &q, "instance console")))
			return rc;
		snprintf(cpath, sizeof(cpath), "%s/console", path);
		/* plain text on success, a JSON error otherwise */
		if (httpc_signed(&cred, "GET", cpath, q.args, q.n, NULL, 0, CTL_TIMEOUT, &r) < 0) {
			fprintf(stderr, "cloudctl: cannot reach the controller: %s\n", r.error);
			httpc_response_free(&r);
			return EXIT_SYSTEM;
		}
		if (r.status == 200) {
			fwrite(r.body.data ? r.body.data : "", 1, r.body.len, stdout);
			httpc_response_free(&r);
			return 0;
		}
		httpc_response_free(&r);
		return ctl_call(s, "GET", cpath, &q, NULL, &doc); /* prints the error */
	}
	if (strcmp(argv[0], "set-groups") == 0) {
		json_t *groups = json_array();
		char gpath[300];
		for (int i = 2; i < argc; i++) {
			if (argv[i][0] == '-') {
				json_decref(groups);
				return ctl_usage_error("instance set-groups: unknown option %s (groups are plain names)", argv[i]);
			}
			json_array_append_new(groups, json_string(argv[i]));
		}
		snprintf(gpath, sizeof(gpath), "%s/security-groups", path);
		return ctl_request(s, "PUT", gpath, json_pack("{s:o}", "security_groups", groups));
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0)
			wait = 1;
		else
			return ctl_usage_error("instance: unknown argument %s", argv[i]);
	}
	{
		static const char *const acts[] = { "start", "stop", "reboot", NULL };
		for (const char *const *a = acts; *a; a++)
			if (strcmp(argv[0], *a) == 0) {
				char apath[300];
				snprintf(apath, sizeof(apath), "%s/%s", path, *a);
				if ((rc = ctl_call(s, "POST", apath, NULL, NULL, &doc)))
					return rc;
				rc = operation_answer(s, doc, wait);
				json_decref(doc);
				return rc;
			}
	}
	if (strcmp(argv[0], "delete") == 0 || strcmp(argv[0], "rm") == 0) {
		if ((rc = ctl_call(s, "DELETE", path, NULL, NULL, &doc)))
			return rc;
		rc = operation_answer(s, doc, wait);
		json_decref(doc);
		return rc;
	}
	return ctl_usage_error("instance: unknown subcommand %s", argv[0]);
}

static int ctl_instance_type(struct ctl_settings *s, int argc, char **argv)
{
	char path[256];
	int rc;

	if ((rc = ctl_resource_run(s, &instance_types, argc, argv)) >= 0)
		return rc;
	if (argc >= 2 && (rc = ctl_resource_path(&instance_types, argv[1], path, sizeof(path))))
		return rc;
	if (argc >= 2 && strcmp(argv[0], "set") == 0) {
		static const struct ctl_flag flags[] = {
			{ "--vcpus", CTL_FLAG_INT, "vcpus", NULL },
			{ "--memory-mib", CTL_FLAG_INT, "memory_mib", NULL },
			{ "--disk-gib", CTL_FLAG_INT, "disk_gib", NULL },
		};
		json_t *body = json_object();
		if ((rc = ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 2, body, NULL,
				    "instance-type set NAME --vcpus N --memory-mib N --disk-gib N"))) {
			json_decref(body);
			return rc;
		}
		return ctl_request(s, "PUT", path, body);
	}
	return ctl_usage_error("instance-type: expected list, set NAME ... or rm NAME%s", "");
}

static int ctl_template(struct ctl_settings *s, int argc, char **argv)
{
	char path[256];
	int rc;

	if ((rc = ctl_resource_run(s, &templates, argc, argv)) >= 0)
		return rc;
	if (argc >= 2 && strcmp(argv[0], "register") == 0) {
		static const struct ctl_flag flags[] = {
			{ "--format", CTL_FLAG_STRING, "format", NULL },
			{ "--url", CTL_FLAG_STRING, "url", NULL },
			{ "--sha256", CTL_FLAG_STRING, "sha256", NULL },
			{ "--size", CTL_FLAG_INT, "size", NULL },
			{ "--min-disk-gib", CTL_FLAG_INT, "min_disk_gib", NULL },
			{ "--cmdline", CTL_FLAG_STRING, "cmdline", NULL },
			{ "--initrd-url", CTL_FLAG_STRING, "initrd.url", NULL },
			{ "--initrd-sha256", CTL_FLAG_STRING, "initrd.sha256", NULL },
			{ "--account", CTL_FLAG_STRING, "account", NULL },
			{ "--public", CTL_FLAG_TRUE, "public", NULL },
		};
		json_t *body = json_pack("{s:s}", "name", argv[1]);
		if ((rc = ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 2, body, NULL, "template register"))) {
			json_decref(body);
			return rc;
		}
		return ctl_request(s, "POST", "/v1/templates", body);
	}
	if (argc >= 3 && strcmp(argv[0], "upload") == 0) {
		static const struct ctl_flag flags[] = {
			{ "--format", CTL_FLAG_STRING, "format", NULL },
			{ "--min-disk-gib", CTL_FLAG_INT, "min_disk_gib", NULL },
			{ "--cmdline", CTL_FLAG_STRING, "cmdline", NULL },
			{ "--account", CTL_FLAG_STRING, "account", NULL },
			{ "--public", CTL_FLAG_TRUE, "public", NULL },
		};
		json_t *body = json_pack("{s:s,s:b}", "name", argv[1], "upload", 1), *doc;
		const char *file = NULL, *initrd = NULL, *id, *v;
		char upath[300];
		int bad = 0;
		for (int i = 2; i < argc && !bad; i++) {
			int r = ctl_flag_take(flags, CTL_NFLAGS(flags), argc, argv, &i, body, NULL);
			if (r < 0)
				bad = 1;
			else if (r > 0)
				continue;
			else if ((v = ctl_opt(argc, argv, &i, "--initrd")))
				initrd = v;
			else if (argv[i][0] != '-' && file == NULL)
				file = argv[i];
			else
				bad = 1;
		}
		if (bad || file == NULL) {
			json_decref(body);
			return ctl_usage_error("template upload NAME --format F FILE [--initrd FILE] [--cmdline C] ...%s", "");
		}
		if (initrd)
			json_object_set_new(body, "initrd", json_pack("{s:b}", "upload", 1));
		rc = ctl_call(s, "POST", "/v1/templates", NULL, body, &doc);
		json_decref(body);
		if (rc)
			return rc;
		id = json_string_value(json_object_get(doc, "id"));
		snprintf(path, sizeof(path), "/v1/templates/%s", id ? id : "");
		json_decref(doc);
		snprintf(upath, sizeof(upath), "%s/file", path);
		rc = ctl_upload(s, upath, file, &doc);
		if (rc == 0 && initrd) {
			json_decref(doc);
			snprintf(upath, sizeof(upath), "%s/initrd", path);
			rc = ctl_upload(s, upath, initrd, &doc);
		}
		if (rc) {
			/* nothing half-made stays: the template goes with its failed upload */
			if (ctl_call(s, "DELETE", path, NULL, NULL, &doc) == 0)
				fprintf(stderr, "cloudctl: template %s removed again\n", argv[1]);
			json_decref(doc);
			return rc;
		}
		ctl_print_object(s, doc);
		json_decref(doc);
		return 0;
	}
	return ctl_usage_error("template: expected register, upload, list, show or rm%s", "");
}

static int ctl_ssh_key(struct ctl_settings *s, int argc, char **argv)
{
	int rc;

	if ((rc = ctl_resource_run(s, &ssh_keys, argc, argv)) >= 0)
		return rc;
	if (argc == 3 && strcmp(argv[0], "add") == 0) {
		struct buf text = BUF_INIT;
		size_t len;
		json_t *body;
		if (fs_read_file(argv[2], 16384, &text) < 0) {
			fprintf(stderr, "cloudctl: %s: %s\n", argv[2], strerror(errno));
			buf_free(&text);
			return EXIT_USAGE;
		}
		len = text.len;
		while (len && (text.data[len - 1] == '\n' || text.data[len - 1] == '\r'))
			len--;
		body = json_pack("{s:s,s:s%}", "name", argv[1], "public_key", text.data ? text.data : "", len);
		buf_free(&text);
		return ctl_request(s, "POST", "/v1/ssh-keys", body);
	}
	return ctl_usage_error("ssh-key: expected add NAME KEYFILE, list, show or rm%s", "");
}

static int ctl_security_group(struct ctl_settings *s, int argc, char **argv)
{
	char path[256];
	json_t *doc;
	int rc;

	if ((rc = ctl_resource_run(s, &security_groups, argc, argv)) >= 0)
		return rc;
	if (argc >= 2 && strcmp(argv[0], "create") == 0) {
		static const struct ctl_flag flags[] = {
			{ "--description", CTL_FLAG_STRING, "description", NULL },
			{ "--account", CTL_FLAG_STRING, "account", NULL },
		};
		json_t *body = json_pack("{s:s}", "name", argv[1]);
		if ((rc = ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 2, body, NULL, "security-group create"))) {
			json_decref(body);
			return rc;
		}
		return ctl_request(s, "POST", "/v1/security-groups", body);
	}
	if (argc >= 3 && strcmp(argv[0], "rule") == 0) {
		if (path_of(path, sizeof(path), "/v1/security-groups/%s/rules%s", argv[2], NULL) < 0)
			return EXIT_USAGE;
		if (strcmp(argv[1], "add") == 0) {
			static const struct ctl_flag flags[] = {
				{ "--direction", CTL_FLAG_STRING, "direction", NULL },
				{ "--protocol", CTL_FLAG_STRING, "protocol", NULL },
				{ "--ports", CTL_FLAG_STRING, "ports", NULL },
				{ "--cidr", CTL_FLAG_STRING, "cidr", NULL },
				{ "--group", CTL_FLAG_STRING, "group", NULL },
				{ "--icmp-type", CTL_FLAG_INT, "icmp_type", NULL },
				{ "--icmp-code", CTL_FLAG_INT, "icmp_code", NULL },
			};
			json_t *body = json_object();
			if ((rc = ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 3, body, NULL, "security-group rule add"))) {
				json_decref(body);
				return rc;
			}
			rc = ctl_call(s, "POST", path, NULL, body, &doc);
			json_decref(body);
			if (rc)
				return rc;
			rc = ctl_print_list(s, rule_cols, NCOLS(rule_cols), json_object_get(doc, "rules"));
			json_decref(doc);
			return rc;
		}
		if (strcmp(argv[1], "rm") == 0 && argc == 4) {
			char rpath[400];
			snprintf(rpath, sizeof(rpath), "%s/%s", path, argv[3]);
			return ctl_request(s, "DELETE", rpath, NULL);
		}
		return ctl_usage_error("security-group rule: expected add G ... or rm G RULE%s", "");
	}
	if (argc == 2 && (rc = ctl_resource_path(&security_groups, argv[1], path, sizeof(path))))
		return rc;
	if (argc == 2 && strcmp(argv[0], "show") == 0) {
		if ((rc = ctl_call(s, "GET", path, NULL, NULL, &doc)))
			return rc;
		if (s->json) {
			ctl_print_json(doc);
		} else {
			json_t *rules = json_incref(json_object_get(doc, "rules"));
			json_object_del(doc, "rules");
			ctl_print_object(s, doc);
			printf("\n");
			rc = ctl_print_list(s, rule_cols, NCOLS(rule_cols), rules);
			json_decref(rules);
		}
		json_decref(doc);
		return rc;
	}
	return ctl_usage_error("security-group: expected create, list, show, rm or rule%s", "");
}

int ctl_tenant_run(struct ctl_settings *s, int argc, char **argv)
{
	const char *c = argv[0];

	if (strcmp(c, "account") == 0 || strcmp(c, "accounts") == 0)
		return ctl_account(s, argc - 1, argv + 1);
	if (strcmp(c, "api-key") == 0 || strcmp(c, "api-keys") == 0)
		return ctl_api_key(s, argc - 1, argv + 1);
	if (strcmp(c, "instance") == 0 || strcmp(c, "instances") == 0)
		return ctl_instance(s, argc - 1, argv + 1);
	if (strcmp(c, "instance-type") == 0 || strcmp(c, "instance-types") == 0)
		return ctl_instance_type(s, argc - 1, argv + 1);
	if (strcmp(c, "template") == 0 || strcmp(c, "templates") == 0)
		return ctl_template(s, argc - 1, argv + 1);
	if (strcmp(c, "ssh-key") == 0 || strcmp(c, "ssh-keys") == 0)
		return ctl_ssh_key(s, argc - 1, argv + 1);
	if (strcmp(c, "security-group") == 0 || strcmp(c, "security-groups") == 0)
		return ctl_security_group(s, argc - 1, argv + 1);
	return -1;
}
