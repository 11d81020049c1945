/* Placeholder until the unpack tests land. */
#include <stdio.h>

int main(void)
{
	puts("skip - test_unpack: not written yet");
	return 0;
}
