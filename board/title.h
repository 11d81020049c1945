/* The process title: monitors and the daemon's workers are forks of the
 * berth binary; this makes `ps` (/proc/<pid>/cmdline) say what each is,
 * overwriting the original argument area in place (it never grows). */
#ifndef BERTH_TITLE_H
#define BERTH_TITLE_H

/* Remembers the argument area; call first thing in main. */
void board_title_init(int argc, char **argv);
/* Replaces the command line (truncated to the original's length). */
void board_title_set(const char *title);

#endif
