/* Placeholder until the http tests land. */
#include <stdio.h>

int main(void)
{
	puts("skip - test_http: not written yet");
	return 0;
}
