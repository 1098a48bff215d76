// Why C: the child of fork() in a multithreaded process may only call async-signal-safe functions
// until it execs, which Swift code cannot promise (its runtime may allocate or take locks), and
// posix_spawn cannot set resource limits. So the code between fork and exec lives here.
#define _GNU_SOURCE
#include "csubprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/// The steps a child takes before exec, named in `csubprocess_child.step`.
static const char *const steps[] = {"fork", "pipe", "setpgid", "stdin", "stdout", "setuid", "chdir", "setrlimit", "exec"};
enum { STEP_FORK, STEP_PIPE, STEP_SETPGID, STEP_STDIN, STEP_STDOUT, STEP_SETUID, STEP_CHDIR, STEP_SETRLIMIT, STEP_EXEC };

/// A failure report sent from the child to the parent through the close-on-exec pipe.
typedef struct {
    int error;
    int step;
} failure;

/// A close-on-exec pipe whose two ends are both above stdin, stdout and stderr, so that the child's
/// dup2 calls onto 0-2 never overwrite one of them.
static int make_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > 2) continue;
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        close(fds[i]);
        fds[i] = moved;
    }
    if (fds[0] >= 0 && fds[1] >= 0) return 0;
    int saved = errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0) close(fds[i]);
        fds[i] = -1;
    }
    errno = saved;
    return -1;
}

/// `limit` as soft limit (with `slack` more as hard limit), clamped to the current hard limit,
/// which an unprivileged process cannot raise.
static struct rlimit clamped_limit(int resource, long long limit, rlim_t slack) {
    struct rlimit current;
    struct rlimit wanted = {(rlim_t)limit, (rlim_t)limit + slack};
    if (getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
        if (wanted.rlim_max > current.rlim_max) wanted.rlim_max = current.rlim_max;
        if (wanted.rlim_cur > current.rlim_max) wanted.rlim_cur = current.rlim_max;
    }
    return wanted;
}

/// Closes every descriptor from 3 up except `keep` (close_range, or a loop before Linux 5.9).
static void close_others(int keep, int max_fd) {
    if ((keep == 3 || close_range(3, (unsigned)keep - 1, 0) == 0) && close_range((unsigned)keep + 1, ~0U, 0) == 0) return;
    for (int fd = 3; fd < max_fd; fd++) {
        if (fd != keep) close(fd);
    }
}

/// The child: async-signal-safe calls only. Never returns.
static void run_child(const csubprocess_spec *spec, int in_fd, int out_fd, int err_fd, int report_fd,
                      const struct rlimit *memory, const struct rlimit *cpu, const struct rlimit *file_size, int max_fd) {
    failure report = {0, STEP_SETPGID};
    // Ignored signals stay ignored across exec (Sluice ignores SIGPIPE, SIGINT, SIGTERM). glibc's
    // sigaction refuses its internal signals (32, 33), which exec resets for any glibc program.
    struct sigaction default_action = {0};
    default_action.sa_handler = SIG_DFL;
    for (int number = 1; number < NSIG; number++) {
        if (number != SIGKILL && number != SIGSTOP) sigaction(number, &default_action, NULL);
    }
    if (setpgid(0, 0) != 0) goto fail;

    report.step = STEP_STDIN;
    int input_fd = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    if (input_fd < 0 || (input_fd != 0 && dup2(input_fd, 0) != 0)) goto fail;

    report.step = STEP_STDOUT;
    if (dup2(out_fd, 1) != 1 || dup2(err_fd, 2) != 2) goto fail;

    report.step = STEP_SETUID;
    if (spec->uid >= 0 && (setgroups(0, NULL) != 0 || setgid((gid_t)spec->gid) != 0 || setuid((uid_t)spec->uid) != 0)) goto fail;

    report.step = STEP_CHDIR;
    if (chdir(spec->directory) != 0) goto fail;

    report.step = STEP_SETRLIMIT;
    if (memory && setrlimit(RLIMIT_AS, memory) != 0) goto fail;
    if (cpu && setrlimit(RLIMIT_CPU, cpu) != 0) goto fail;
    if (file_size && setrlimit(RLIMIT_FSIZE, file_size) != 0) goto fail;

    close_others(report_fd, max_fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    report.step = STEP_EXEC;
    execve(spec->path, spec->argv, spec->envp);

fail:
    report.error = errno;
    while (write(report_fd, &report, sizeof report) < 0 && errno == EINTR) {}
    _exit(127);
}

static int fail_with(csubprocess_child *child, int step, int error) {
    child->error = error;
    child->step = steps[step];
    return -1;
}

int csubprocess_spawn(const csubprocess_spec *spec, csubprocess_child *child) {
    child->pid = -1;
    child->stdin_fd = child->stdout_fd = child->stderr_fd = -1;
    child->error = 0;
    child->step = NULL;

    struct rlimit memory = clamped_limit(RLIMIT_AS, spec->memory_limit_bytes, 0);
    struct rlimit cpu = clamped_limit(RLIMIT_CPU, spec->cpu_time_limit_seconds, 5);
    struct rlimit file_size = clamped_limit(RLIMIT_FSIZE, spec->file_size_limit_bytes, 0);
    long open_max = sysconf(_SC_OPEN_MAX);
    int max_fd = open_max > 0 && open_max < 1 << 20 ? (int)open_max : 1 << 20;

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
    if ((spec->stdin_pipe && make_pipe(in) != 0) || make_pipe(out) != 0 || make_pipe(err) != 0 || make_pipe(report) != 0) {
        int saved = errno;
        int *all_fds[] = {in, out, err, report};
        for (int i = 0; i < 4; i++) {
            if (all_fds[i][0] >= 0) close(all_fds[i][0]);
            if (all_fds[i][1] >= 0) close(all_fds[i][1]);
        }
        return fail_with(child, STEP_PIPE, saved);
    }

    // No signal handler of the parent may run in the child before it resets them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = fork();
    if (pid == 0) {
        run_child(spec, in[0], out[1], err[1], report[1], spec->memory_limit_bytes > 0 ? &memory : NULL,
                  spec->cpu_time_limit_seconds > 0 ? &cpu : NULL, spec->file_size_limit_bytes > 0 ? &file_size : NULL, max_fd);
    }
    int fork_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (in[0] >= 0) close(in[0]);
    close(out[1]);
    close(err[1]);
    close(report[1]);

    failure received = {0, 0};
    ssize_t count = 0;
    if (pid > 0) {
        while ((count = read(report[0], &received, sizeof received)) < 0 && errno == EINTR) {}
    }
    close(report[0]);
    if (pid < 0 || count > 0) {
        if (in[1] >= 0) close(in[1]);
        close(out[0]);
        close(err[0]);
        if (pid < 0) return fail_with(child, STEP_FORK, fork_error);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        return fail_with(child, received.step, received.error);
    }
    child->pid = pid;
    child->stdin_fd = in[1];
    child->stdout_fd = out[0];
    child->stderr_fd = err[0];
    return 0;
}

int csubprocess_has_exited(pid_t pid) {
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}
