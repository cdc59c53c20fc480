/*
 * pause: the process that holds a pod's namespaces open.
 *
 * It is PID 1 of the pod's sandbox, so it must exit cleanly on SIGINT/SIGTERM
 * (PID 1 gets no default signal handlers) and reap any zombie that gets
 * reparented to it. Built static so it runs in a FROM scratch image.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void terminate(int sig)
{
	(void)sig;
	_exit(0);
}

static void reap(int sig)
{
	int saved_errno = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved_errno;
}

static int on(int sig, void (*handler)(int), int flags)
{
	struct sigaction action;
	memset(&action, 0, sizeof action);
	sigemptyset(&action.sa_mask);
	action.sa_handler = handler;
	action.sa_flags = flags;
	return sigaction(sig, &action, NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("pause (bot-bottle test cluster)");
		return 0;
	}
	if (getpid() != 1)
		fputs("pause: warning: not PID 1, will not reap the pod's zombies\n", stderr);

	if (on(SIGINT, terminate, 0) || on(SIGTERM, terminate, 0) ||
	    on(SIGCHLD, reap, SA_NOCLDSTOP | SA_RESTART)) {
		perror("pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
