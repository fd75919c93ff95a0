/*
 * SMTP load generator for `make bench`, in C: the plain-SMTP throughput rounds (no STARTTLS, AUTH,
 * attachments or source address; smtpload.py does those). Same sessions, messages and JSON
 * result as smtpload.py, at a small fraction of its CPU: on a 2-core machine the Python
 * generator took about 0.45 ms of CPU per message, a quarter of the machine that the servers
 * under test should have, and its per-command latency sat in series with theirs when one session
 * sends at a time.
 *
 *   cc -O2 -o smtpload smtpload.c
 *   ./smtpload --port 2525 --messages 3000 --concurrency 20 --size 10000 [--per-session N]
 *              [--timeout S] [--command-timeout S] [--sender A] [--recipient A] [--tag T] [--json]
 *
 * N sessions run on one thread (epoll, non-blocking sockets). Each connects, reads the greeting,
 * sends EHLO, then per message MAIL (with SIZE= when offered), RCPT, DATA, the message and the
 * final ".", and QUIT after --per-session messages. The time from the final CRLF.CRLF written to
 * the reply read is the message's end-of-DATA latency. A refused transaction is reset (RSET) and
 * the session goes on; a closed connection, a timeout, a malformed reply or 421 ends the session.
 * Failures are counted by "stage code" as in smtpload.py. Loopback targets only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum stage { S_IDLE, S_CONNECT, S_GREETING, S_EHLO, S_MAIL, S_RCPT, S_DATA, S_BODY, S_DATAEND, S_RSET, S_QUIT };
static const char *stage_names[] = { "idle", "connect", "greeting", "EHLO", "MAIL", "RCPT", "DATA", "DATA-body", "DATA-end", "RSET", "QUIT" };

struct session {
    int fd;
    enum stage stage;
    char rbuf[8192];
    size_t rlen;
    char *out;            /* what is being written */
    size_t out_len, out_off;
    int out_owned;
    int sent_here;
    int size_offered;
    double waiting_since; /* 0: not waiting for a reply */
    double data_end_at;
    double retry_at;      /* a failed connect waits before the next one */
    char *message;        /* the message being sent (header, body, "."), from MAIL to DATA's 354 */
    size_t message_len;
};

#define MAX_ERRORS 64
static struct { char key[64]; long count; char example[201]; } errors[MAX_ERRORS];
static int error_kinds;

static struct {
    const char *host, *sender, *recipient, *tag, *helo;
    int port, concurrency, per_session;
    long messages, size;
    double timeout, command_timeout;
} spec = { "127.0.0.1", "bench@bench.example", "rcpt@bench.example", "bench", "loadgen.bench.local",
           25, 20, 1, 1000, 10000, 120.0, 30.0 };

static long counter, attempted, accepted;
static double *latencies;
static long latency_count;
static double last_accept;
static long server_size_limit = -1;
static char sample_reply[256];
static char *body;
static size_t body_len;
static int epfd;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record_error(enum stage stage, const char *code, const char *text) {
    char key[64];
    snprintf(key, sizeof key, "%s %s", stage_names[stage], code);
    for (int i = 0; i < error_kinds; i++)
        if (strcmp(errors[i].key, key) == 0) { errors[i].count++; return; }
    if (error_kinds == MAX_ERRORS) return;
    snprintf(errors[error_kinds].key, sizeof errors[0].key, "%s", key);
    snprintf(errors[error_kinds].example, sizeof errors[0].example, "%s", text ? text : "");
    errors[error_kinds++].count = 1;
}

/* 76-character lines of the base64 alphabet and CRLF, as smtpload.py's make_body (nbytes >= 3;
 * the last line takes what is left). */
static void make_lines(char *dst, size_t nbytes) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t produced = 0;
    for (long i = 0; produced < nbytes; i++) {
        size_t left = nbytes - produced;
        size_t n = left > 80 ? 76 : left - 2;
        for (size_t j = 0; j < n; j++) dst[produced++] = alphabet[(i * 7 + (long)j) % 64];
        dst[produced++] = '\r';
        dst[produced++] = '\n';
    }
}

static size_t header(char *dst, size_t room, long n) {
    char date[64];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", gmtime(&t));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int len = snprintf(dst, room,
                       "From: Bench Sender <%s>\r\nTo: <%s>\r\nSubject: %s message %ld\r\nDate: %s\r\n"
                       "Message-ID: <%s.%d.%ld.%lld@loadgen.bench.local>\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
                       spec.sender, spec.recipient, spec.tag, n, date, spec.tag, (int)getpid(), n,
                       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return len < 0 ? 0 : (size_t)len;
}

static void fail(struct session *s, enum stage stage, const char *code, const char *text, int fatal);

static void watch(struct session *s, uint32_t events, int op) {
    struct epoll_event ev = { .events = events, .data.ptr = s };
    epoll_ctl(epfd, op, s->fd, &ev);
}

static void set_output(struct session *s, char *data, size_t len, int owned) {
    if (s->out_owned) free(s->out);
    s->out = data; s->out_len = len; s->out_off = 0; s->out_owned = owned;
}

static void command(struct session *s, enum stage stage, const char *fmt, ...) {
    char *line;
    va_list ap;
    va_start(ap, fmt);
    int len = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (len < 0) { perror("vasprintf"); exit(2); }
    s->stage = stage;
    set_output(s, line, (size_t)len, 1);
    watch(s, EPOLLOUT | EPOLLIN, EPOLL_CTL_MOD);
}

static void close_session(struct session *s) {
    if (s->fd >= 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL); close(s->fd); }
    s->fd = -1;
    set_output(s, NULL, 0, 0);
    s->stage = S_IDLE;
    s->rlen = 0;
    s->waiting_since = 0;
}

static void start_session(struct session *s, double t) {
    if (counter >= spec.messages || t < s->retry_at) return;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)spec.port) };
    inet_pton(AF_INET, spec.host, &addr.sin_addr);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->stage = S_CONNECT;
    s->sent_here = 0;
    s->size_offered = 0;
    s->waiting_since = t;
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(s->fd);
        s->fd = -1;
        fail(s, S_CONNECT, err == ECONNREFUSED ? "refused" : "error", strerror(err), 1);
        return;
    }
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static void next_message(struct session *s) {
    if (s->sent_here >= spec.per_session || counter >= spec.messages) {
        command(s, S_QUIT, "QUIT\r\n");
        return;
    }
    long n = counter++;
    attempted++;
    s->sent_here++;
    char head[1024];
    size_t head_len = header(head, sizeof head, n);
    size_t total = head_len + body_len;
    free(s->message);
    s->message = malloc(total + 3);
    if (!s->message) { perror("malloc"); exit(2); }
    memcpy(s->message, head, head_len);
    memcpy(s->message + head_len, body, body_len);
    memcpy(s->message + total, ".\r\n", 3);
    s->message_len = total + 3;
    if (s->size_offered)
        command(s, S_MAIL, "MAIL FROM:<%s> SIZE=%zu\r\n", spec.sender, total);
    else
        command(s, S_MAIL, "MAIL FROM:<%s>\r\n", spec.sender);
}

/* A failure in `stage`: a refused transaction is reset and the session goes on; anything else
 * ends the session. A session that never got to a transaction costs one message (so a server that
 * refuses every session ends the run), unless the count is used up. */
static void fail(struct session *s, enum stage stage, const char *code, const char *text, int fatal) {
    if (stage == S_CONNECT || stage == S_GREETING || stage == S_EHLO) {
        if (counter < spec.messages) {
            counter++;
            attempted++;
            record_error(stage, code, text);
        }
        close_session(s);
        s->retry_at = now() + 0.05;
        return;
    }
    record_error(stage, code, text);
    if (fatal || stage == S_RSET || stage == S_QUIT) {
        close_session(s);
        return;
    }
    command(s, S_RSET, "RSET\r\n");
}

/* One complete reply (the code, the text of its last line) for the session's stage. */
static void on_reply(struct session *s, int code, const char *text, double t) {
    enum stage stage = s->stage;
    char code_text[8];
    snprintf(code_text, sizeof code_text, "%d", code);
    s->waiting_since = 0;
    switch (stage) {
    case S_GREETING:
        if (code != 220) { fail(s, stage, code_text, text, 1); return; }
        command(s, S_EHLO, "EHLO %s\r\n", spec.helo);
        return;
    case S_EHLO:
        if (code != 250) { fail(s, stage, code_text, text, 1); return; }
        next_message(s);
        return;
    case S_MAIL:
        if (code != 250) { fail(s, stage, code_text, text, code == 421); return; }
        command(s, S_RCPT, "RCPT TO:<%s>\r\n", spec.recipient);
        return;
    case S_RCPT:
        if (code != 250) { fail(s, stage, code_text, text, code == 421); return; }
        command(s, S_DATA, "DATA\r\n");
        return;
    case S_DATA:
        if (code != 354) { fail(s, stage, code_text, text, code == 421); return; }
        s->stage = S_BODY;
        set_output(s, s->message, s->message_len, 1);
        s->message = NULL;
        watch(s, EPOLLOUT | EPOLLIN, EPOLL_CTL_MOD);
        return;
    case S_DATAEND:
        if (code != 250) { fail(s, stage, code_text, text, code == 421); return; }
        accepted++;
        latencies[latency_count++] = t - s->data_end_at;
        last_accept = t;
        if (!sample_reply[0]) snprintf(sample_reply, sizeof sample_reply, "250 %s", text);
        next_message(s);
        return;
    case S_RSET:
        if (code != 250) { fail(s, stage, code_text, text, 1); return; }
        next_message(s);
        return;
    case S_QUIT:
        close_session(s);
        return;
    default:
        fail(s, stage, "bad-reply", "a reply nobody asked for", 1);
    }
}

static void on_readable(struct session *s, double t) {
    for (;;) {
        ssize_t got = read(s->fd, s->rbuf + s->rlen, sizeof s->rbuf - s->rlen);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (got <= 0) {
            if (s->stage == S_QUIT) close_session(s);
            else fail(s, s->stage, got == 0 ? "closed" : "connection-error",
                      got == 0 ? "server closed the connection" : strerror(errno), 1);
            return;
        }
        s->rlen += (size_t)got;
        /* Complete lines; a reply ends with a line "NNN text" or "NNN" (not "NNN-text"). */
        size_t used = 0;
        char *nl;
        while ((nl = memchr(s->rbuf + used, '\n', s->rlen - used)) != NULL) {
            char *line = s->rbuf + used;
            size_t len = (size_t)(nl - line);
            used += len + 1;
            if (len > 0 && line[len - 1] == '\r') len--;
            if (len < 3 || line[0] < '0' || line[0] > '9' || line[1] < '0' || line[1] > '9' ||
                line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
                char text[81];
                snprintf(text, sizeof text, "%.*s", (int)(len < 80 ? len : 80), line);
                fail(s, s->stage, "bad-reply", text, 1);
                return;
            }
            size_t tlen = len > 4 ? len - 4 : 0;
            if (s->stage == S_EHLO && tlen >= 4 && strncasecmp(line + 4, "SIZE", 4) == 0 && (tlen == 4 || line[8] == ' ')) {
                s->size_offered = 1;
                if (tlen > 5) server_size_limit = strtol(line + 9, NULL, 10);
            }
            if (len > 3 && line[3] == '-') continue;
            char text[201];
            snprintf(text, sizeof text, "%.*s", (int)(tlen < 200 ? tlen : 200), line + 4);
            int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
            memmove(s->rbuf, s->rbuf + used, s->rlen - used);
            s->rlen -= used;
            used = 0;
            on_reply(s, code, text, t);
            if (s->fd < 0) return;
        }
        if (used == 0 && s->rlen == sizeof s->rbuf) { fail(s, s->stage, "bad-reply", "reply line too long", 1); return; }
        memmove(s->rbuf, s->rbuf + used, s->rlen - used);
        s->rlen -= used;
    }
}

static void on_writable(struct session *s, double t) {
    if (s->stage == S_CONNECT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(s, S_CONNECT, err == ECONNREFUSED ? "refused" : "error", strerror(err), 1);
            return;
        }
        s->stage = S_GREETING;
        s->waiting_since = t;
        watch(s, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    while (s->out_off < s->out_len) {
        ssize_t put = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
        if (put < 0 && errno == EAGAIN) {
            if (s->waiting_since == 0) s->waiting_since = t;   /* the server is not reading */
            return;
        }
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            fail(s, s->stage == S_BODY ? S_BODY : s->stage, "connection-error", strerror(errno), 1);
            return;
        }
        s->out_off += (size_t)put;
        if (s->stage == S_BODY) s->waiting_since = 0;
    }
    set_output(s, NULL, 0, 0);
    watch(s, EPOLLIN, EPOLL_CTL_MOD);
    if (s->stage == S_BODY) {
        s->stage = S_DATAEND;
        s->data_end_at = now();
    }
    s->waiting_since = now();
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank, as smtpload.py's percentile(). */
static double percentile(double p) {
    long rank = (long)((latency_count * p + 99) / 100);
    if (rank < 1) rank = 1;
    if (rank > latency_count) rank = latency_count;
    return latencies[rank - 1];
}

static void json_string(const char *text) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20 || *c >= 0x7f) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

static void json_ms(double seconds, int present) {
    if (present) printf("%.3f", seconds * 1000.0); else printf("null");
}

static void usage(void) {
    fprintf(stderr, "usage: smtpload --port N [--host 127.0.0.1] [--messages M] [--concurrency C] [--size BYTES]\n"
                    "                [--per-session N] [--timeout S] [--command-timeout S] [--sender A]\n"
                    "                [--recipient A] [--tag T] [--json]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) { json = 1; continue; }
        if (!v) usage();
        if (strcmp(a, "--host") == 0) spec.host = v;
        else if (strcmp(a, "--port") == 0) spec.port = atoi(v);
        else if (strcmp(a, "--messages") == 0) spec.messages = atol(v);
        else if (strcmp(a, "--concurrency") == 0) spec.concurrency = atoi(v);
        else if (strcmp(a, "--size") == 0) spec.size = atol(v);
        else if (strcmp(a, "--per-session") == 0) spec.per_session = atoi(v);
        else if (strcmp(a, "--timeout") == 0) spec.timeout = atof(v);
        else if (strcmp(a, "--command-timeout") == 0) spec.command_timeout = atof(v);
        else if (strcmp(a, "--sender") == 0) spec.sender = v;
        else if (strcmp(a, "--recipient") == 0) spec.recipient = v;
        else if (strcmp(a, "--tag") == 0) spec.tag = v;
        else usage();
        i++;
    }
    struct in_addr target;
    if (inet_pton(AF_INET, spec.host, &target) != 1 || (ntohl(target.s_addr) >> 24) != 127) {
        fprintf(stderr, "smtpload: only IPv4 loopback targets (127.0.0.0/8), not '%s'\n", spec.host);
        return 2;
    }
    if (spec.port <= 0 || spec.port > 65535 || spec.messages < 0 || spec.concurrency < 1 ||
        spec.per_session < 1 || spec.size < 0) usage();

    char sample[1024];
    size_t sample_len = header(sample, sizeof sample, 0);   /* ends with the empty line */
    body_len = spec.size >= (long)sample_len + 16 ? (size_t)spec.size - sample_len : 16;
    body = malloc(body_len);
    latencies = malloc(sizeof(double) * (size_t)(spec.messages + 1));
    if (!body || !latencies) { perror("malloc"); return 2; }
    make_lines(body, body_len);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    int sessions = spec.concurrency < spec.messages ? spec.concurrency : (spec.messages > 0 ? (int)spec.messages : 1);
    struct session *all = calloc((size_t)sessions, sizeof *all);
    for (int i = 0; i < sessions; i++) all[i].fd = -1;

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double start = now();
    double deadline = start + spec.timeout;
    int timed_out = 0;
    struct epoll_event events[64];
    for (;;) {
        double t = now();
        int active = 0;
        for (int i = 0; i < sessions; i++) {
            struct session *s = &all[i];
            if (s->fd < 0 && t < deadline) start_session(s, t);
            if (s->fd >= 0) {
                active++;
                if (s->waiting_since > 0 && t - s->waiting_since > spec.command_timeout)
                    fail(s, s->stage, "timeout", "no reply within the command timeout", 1);
            }
        }
        if (!active) {
            if (counter >= spec.messages || t >= deadline) break;
            usleep(10000);
            continue;
        }
        if (t >= deadline + spec.command_timeout) { timed_out = 1; break; }
        int n = epoll_wait(epfd, events, 64, 100);
        t = now();
        for (int i = 0; i < n; i++) {
            struct session *s = events[i].data.ptr;
            if (s->fd < 0) continue;
            if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                if (s->stage == S_CONNECT || s->out_len > 0) on_writable(s, t);
                if (s->fd < 0) continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(s, t);
        }
    }
    double end = now();
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    if (timed_out || (end >= deadline && attempted < spec.messages)) {
        timed_out = 1;
        if (attempted < spec.messages && error_kinds < MAX_ERRORS) {
            snprintf(errors[error_kinds].key, sizeof errors[0].key, "run timeout (not attempted)");
            errors[error_kinds++].count = spec.messages - attempted;
        }
    }
    qsort(latencies, (size_t)latency_count, sizeof(double), by_value);
    double elapsed = end - start > 1e-9 ? end - start : 1e-9;
    double mean = 0;
    for (long i = 0; i < latency_count; i++) mean += latencies[i];
    if (latency_count) mean /= latency_count;

    if (!json) {
        printf("accepted %ld/%ld in %.2fs = %.1f msg/s; end-of-DATA->250 p50 %.3f ms, p99 %.3f ms\n", accepted,
               spec.messages, elapsed, accepted / elapsed, latency_count ? percentile(50) * 1000 : 0,
               latency_count ? percentile(99) * 1000 : 0);
        for (int i = 0; i < error_kinds; i++) printf("  error %s: %ld  (%s)\n", errors[i].key, errors[i].count, errors[i].example);
        return accepted == spec.messages ? 0 : 1;
    }
    printf("{\"client\": \"smtpload.c\", \"spec\": {\"host\": ");
    json_string(spec.host);
    printf(", \"port\": %d, \"messages\": %ld, \"concurrency\": %d, \"size\": %ld, \"per_session\": %d, "
           "\"starttls\": false, \"timeout\": %.1f, \"command_timeout\": %.1f, \"sender\": ",
           spec.port, spec.messages, spec.concurrency, spec.size, spec.per_session, spec.timeout, spec.command_timeout);
    json_string(spec.sender);
    printf(", \"recipient\": ");
    json_string(spec.recipient);
    printf(", \"tag\": ");
    json_string(spec.tag);
    printf("}, \"attempted\": %ld, \"accepted\": %ld, \"errors\": {", attempted, accepted);
    for (int i = 0; i < error_kinds; i++) {
        if (i) printf(", ");
        json_string(errors[i].key);
        printf(": %ld", errors[i].count);
    }
    printf("}, \"error_examples\": {");
    for (int i = 0; i < error_kinds; i++) {
        if (i) printf(", ");
        json_string(errors[i].key);
        printf(": ");
        json_string(errors[i].example);
    }
    printf("}, \"elapsed_s\": %.4f, \"accepted_per_s\": %.2f, \"latency_ms\": {\"p50\": ", elapsed,
           accepted ? accepted / elapsed : 0.0);
    json_ms(latency_count ? percentile(50) : 0, latency_count > 0);
    printf(", \"p99\": ");
    json_ms(latency_count ? percentile(99) : 0, latency_count > 0);
    printf(", \"max\": ");
    json_ms(latency_count ? latencies[latency_count - 1] : 0, latency_count > 0);
    printf(", \"mean\": ");
    json_ms(mean, latency_count > 0);
    printf("}, \"start_monotonic\": %.6f, \"end_monotonic\": %.6f, \"last_accept_monotonic\": %.6f, "
           "\"timed_out\": %s, \"server_size_limit\": ", start, end, last_accept, timed_out ? "true" : "false");
    if (server_size_limit >= 0) printf("%ld", server_size_limit); else printf("null");
    printf(", \"loadgen_cpu_s\": %.3f, \"sample_reply\": ", cpu);
    if (sample_reply[0]) json_string(sample_reply); else printf("null");
    printf("}\n");
    return 0;
}
