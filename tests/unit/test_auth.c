/* Placeholder until the auth tests land. */
#include <stdio.h>

int main(void)
{
	puts("skip - test_auth: not written yet");
	return 0;
}
