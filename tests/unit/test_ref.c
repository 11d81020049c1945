/* Placeholder until the ref tests land. */
#include <stdio.h>

int main(void)
{
	puts("skip - test_ref: not written yet");
	return 0;
}
