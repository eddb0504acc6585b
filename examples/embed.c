/* A server's config tree in tangle: build, share, look up, free.
   cc embed.c $(pkg-config --cflags --libs tangle) */
#include <stdio.h>
#include <tangle.h>

int main(void)
{
    if (tg_init(NULL) < 0) { fprintf(stderr, "%s\n", tg_error_message()); return 1; }
    tg_obj *config = tg_dict_new(), *key = tg_str_const("port"), *port = tg_int(8080);
    tg_dict_set(config, key, port);                    /* arguments are not stolen */
    tg_obj *hosts = tg_list_new(0), *h = tg_str("example.org");
    tg_list_append(hosts, h);
    tg_obj *hkey = tg_str_const("hosts");
    tg_dict_set(config, hkey, hosts);
    tg_obj *got = tg_dict_get(config, key);            /* a new reference */
    printf("port = %ld, %zu host(s)\n", (long)tg_int_value(got), tg_list_len(hosts));
    tg_decref(got); tg_decref(h); tg_decref(hosts); tg_decref(hkey);
    tg_decref(port); tg_decref(key); tg_decref(config);
    tg_fini();
    return tg_live_objects() == 0 ? 0 : 1;             /* nothing leaked */
}
