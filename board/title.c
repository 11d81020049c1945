/* Process titles (see title.h). */
#include "board/title.h"

#include <string.h>

static char *area;
static size_t area_len;

void board_title_init(int argc, char **argv)
{
	if (argc < 1 || !argv[0])
		return;
	area = argv[0];
	/* the arguments are contiguous: the area runs to the end of the last */
	char *end = argv[argc - 1] + strlen(argv[argc - 1]);
	area_len = (size_t)(end - area);
}

void board_title_set(const char *title)
{
	if (!area || !area_len)
		return;
	size_t n = strlen(title);
	if (n > area_len)
		n = area_len;
	memcpy(area, title, n);
	memset(area + n, 0, area_len - n + 1);
}
