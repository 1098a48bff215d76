#ifndef CSUBPROCESS_H
#define CSUBPROCESS_H

#include <sys/types.h>

/// What a child should run and under which limits.
typedef struct {
    /// The program: an absolute path (no PATH lookup happens here).
    const char *path;
    /// NULL-terminated argument vector; argv[0] is the program's name.
    char *const *argv;
    /// NULL-terminated environment: the child's entire environment.
    char *const *envp;
    /// The working directory.
    const char *directory;
    /// RLIMIT_AS in bytes; 0 or less for none.
    long long memory_limit_bytes;
    /// RLIMIT_CPU in seconds (soft; the hard limit, which SIGKILLs, is a few seconds higher); 0 or less for none.
    long long cpu_time_limit_seconds;
    /// RLIMIT_FSIZE in bytes (a larger write gets SIGXFSZ); 0 or less for none.
    long long file_size_limit_bytes;
    /// The user and group to run as (supplementary groups are dropped), for a caller running as root; -1 to keep.
    long long uid;
    long long gid;
    /// Nonzero: stdin is a pipe whose write end the parent gets (`stdin_fd`); zero: /dev/null.
    int stdin_pipe;
} csubprocess_spec;

/// A started child, or why it could not be started.
typedef struct {
    pid_t pid;
    /// The write end of the child's stdin pipe (close-on-exec), or -1 when stdin is /dev/null.
    int stdin_fd;
    /// Read ends of the child's stdout and stderr pipes (close-on-exec).
    int stdout_fd;
    int stderr_fd;
    /// The errno of the failed step when `csubprocess_spawn` returns -1.
    int error;
    /// The failed step ("fork", "chdir", "setrlimit", "exec", ...), a static string.
    const char *step;
} csubprocess_child;

/// Starts `spec` in a new process group with stdin on /dev/null (or a pipe), stdout and stderr on pipes, no
/// other descriptors, default signal dispositions and an empty signal mask.
///
/// Returns 0 once the program has been executed, or -1 with `child->error` and `child->step`
/// describing the failure (the child, if any, has been reaped and no descriptor is left open).
int csubprocess_spawn(const csubprocess_spec *spec, csubprocess_child *child);

/// Whether `pid` (a child of the caller) has terminated, without reaping it: 1 if so, 0 if still
/// running, -1 on error (errno set). Its pid, and so its process group id, stays reserved until reaped.
int csubprocess_has_exited(pid_t pid);

#endif
